using Ferry.Agent.Api;
using Ferry.Agent.Migrations;
using Ferry.Agent.Vms;
using Ferry.Api;
using Grpc.Core;

namespace Ferry.Agent;

/// <summary>The gRPC face of the agent: each call checked, carried out by the registry or the coordinator, its failure one line.</summary>
public sealed class AgentService(VmRegistry registry, MigrationCoordinator migrations, HostLoad load, EventHub events, AgentSettings settings, StateDirectory state)
    : Api.Agent.AgentBase
{
    public override Task<Vm> CreateVm(CreateVmRequest request, ServerCallContext context) => Guard(async () =>
        await registry.ObserveAsync(registry.Create(request.Definition ?? throw new AgentException("a definition is required")), context.CancellationToken));

    public override Task<Vm> StartVm(VmRef request, ServerCallContext context) => Guard(async () =>
        await registry.ObserveAsync(await registry.StartAsync(request.Name, context.CancellationToken), context.CancellationToken));

    public override Task<Vm> StopVm(VmRef request, ServerCallContext context) => Guard(async () =>
        await registry.ObserveAsync(await registry.StopAsync(request.Name, context.CancellationToken), context.CancellationToken));

    public override Task<Vm> DeleteVm(VmRef request, ServerCallContext context) => Guard(async () =>
    {
        var record = await registry.DeleteAsync(request.Name, context.CancellationToken);
        return new Vm { Definition = new VmDefinition { Name = record.Name }, State = "deleted" };
    });

    public override Task<Vm> GetVm(VmRef request, ServerCallContext context) => Guard(() =>
        registry.ObserveAsync(registry.Get(request.Name), context.CancellationToken));

    public override Task<VmList> ListVms(ListVmsRequest request, ServerCallContext context) => Guard(async () =>
    {
        var list = new VmList();
        foreach (var record in registry.Records) list.Vms.Add(await registry.ObserveAsync(record, context.CancellationToken));
        return list;
    });

    public override async Task ReadConsole(ReadConsoleRequest request, IServerStreamWriter<ConsoleChunk> responseStream, ServerCallContext context)
    {
        await Guard(() => Task.FromResult(registry.Get(request.Name)));
        string path = state.ConsolePath(request.Name);
        long offset = 0;
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                if (File.Exists(path))
                {
                    using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    file.Seek(offset, SeekOrigin.Begin);
                    int n;
                    while ((n = await file.ReadAsync(buffer, context.CancellationToken)) > 0)
                    {
                        offset += n;
                        await responseStream.WriteAsync(new ConsoleChunk { Data = Google.Protobuf.ByteString.CopyFrom(buffer, 0, n) }, context.CancellationToken);
                    }
                }
                if (!request.Follow) return;
                await Task.Delay(200, context.CancellationToken);
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested) { /* the caller hung up */ }
    }

    public override Task<HostInfo> GetHost(GetHostRequest request, ServerCallContext context) => Guard(async () =>
    {
        var vms = load.LastSurvey;
        if (vms is null)
        {
            // Asked before the first survey (the agent just started): look now.
            var now = new List<Vm>();
            foreach (var record in registry.Records) now.Add(await registry.ObserveAsync(record, context.CancellationToken));
            vms = now;
        }
        return load.Describe(vms, migrations.InFlight, settings.MaxMigrations);
    });

    public override async Task WatchEvents(WatchEventsRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        try
        {
            await foreach (var e in events.WatchAsync(context.CancellationToken)) await responseStream.WriteAsync(e, context.CancellationToken);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested) { /* the caller hung up */ }
    }

    public override Task MigrateVm(MigrateVmRequest request, IServerStreamWriter<MigrationUpdate> responseStream, ServerCallContext context) =>
        Guard(async () =>
        {
            await migrations.MigrateAsync(request, u => responseStream.WriteAsync(u, context.CancellationToken), context.CancellationToken);
            return true;
        });

    public override Task<PrepareReceiveReply> PrepareReceive(PrepareReceiveRequest request, ServerCallContext context) => Guard(async () =>
        await migrations.PrepareReceiveAsync(request, context.CancellationToken));

    public override Task<Vm> AwaitReceive(VmRef request, ServerCallContext context) => Guard(() =>
        migrations.AwaitReceiveAsync(request.Name, context.CancellationToken));

    public override Task<Vm> AbortReceive(VmRef request, ServerCallContext context) => Guard(() =>
        migrations.AbortReceiveAsync(request.Name, context.CancellationToken));

    /// <summary>The agent's refusals and the VMMs' errors reach the caller as one line with a fitting status.</summary>
    private static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (AgentException e) { throw new RpcException(new Status(StatusCode.FailedPrecondition, e.Message)); }
        catch (ApiException e) { throw new RpcException(new Status(StatusCode.Aborted, e.Message)); }
        catch (AgentCallException e) { throw new RpcException(new Status(StatusCode.Unavailable, e.Message)); }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            // A peer agent's refusal, passed on with who said it.
            throw new RpcException(new Status(e.StatusCode, $"the destination agent: {e.Status.Detail}"));
        }
    }
}
