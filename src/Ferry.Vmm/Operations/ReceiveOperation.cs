using System.Net.Sockets;
using Ferry.Api;
using Ferry.Migration;
using Ferry.Migration.Destination;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;

namespace Ferry.Vmm.Operations;

/// <summary>
/// The destination side of a migration, run in the receiving VMM's process: listen, accept the
/// source's streams, let the engine read the VM into a new KvmVm, and hand it over once it runs
/// (or is held, when the word to run never came). After a post-copy switchover it goes on while
/// the VM's remaining pages arrive, and ends the VM as lost if the source goes away first.
/// </summary>
public sealed class ReceiveOperation : IAsyncDisposable
{
    private readonly ReceivePlan _plan;
    private readonly TcpListener _listener;
    private AcceptedMigration? _accepted;

    private ReceiveOperation(ReceivePlan plan, TcpListener listener)
    {
        _plan = plan;
        _listener = listener;
    }

    /// <summary>Something worth a line to whoever runs this VMM (post-copy complete, the VM lost).</summary>
    public Action<string>? Notify { get; init; }

    /// <summary>Starts listening; an address that cannot be had fails here, before anything else.</summary>
    public static ReceiveOperation Listen(ReceivePlan plan, Action<string>? notify = null)
    {
        var listener = new TcpListener(plan.Address, plan.Port);
        try { listener.Start(Handshake.MaxStreams); }
        catch (SocketException e) { throw new VmConfigException($"cannot listen on {plan.Listen}: {e.Message}"); }
        return new ReceiveOperation(plan, listener) { Notify = notify };
    }

    /// <summary>
    /// Waits for the source, receives the VM and returns it, running (or held paused, when Ready
    /// was said but Go never came). A failure before then leaves nothing behind here.
    /// </summary>
    public async Task<ReceivedVm> ReceiveAsync(Action<ReadOnlySpan<byte>> console, CancellationToken cancellationToken)
    {
        var accepted = _accepted = await MigrationListener.AcceptAsync(_listener, _plan.Token, _plan.Tls, cancellationToken);
        // A post-copy source whose link breaks comes back here: keep listening until every page is in.
        if (!accepted.Mode.MayPostCopy()) _listener.Stop();

        ApiSocket? socket = null;
        try
        {
            var destination = new MigrationDestination
            {
                RecoveryTimeout = _plan.RecoveryTimeout,
                AcceptReconnection = async accept =>
                {
                    var again = await MigrationListener.AcceptAsync(_listener, _plan.Token, _plan.Tls, accept);
                    if (again.Session == accepted.Session) return again;
                    foreach (var stream in again.Streams) await stream.DisposeAsync();
                    throw new MigrationException("a connection of another migration was refused while post-copy waits for its source");
                },
            };
            var outcome = await destination.RunAsync(accepted,
                configuration =>
                {
                    var config = VmConfigJson.Decode(configuration.Span);
                    if (_plan.Name is { } newName) config = config with { Name = newName };
                    else VmName.Check(config.Name, "the migration's configuration");
                    // Bound before the VM exists: a socket that cannot work fails the migration before its commit.
                    socket = ApiSocket.Bind(_plan.ApiSocketPath ?? ApiSocketPaths.ForName(config.Name));
                    return KvmVm.CreateForRestore(config, console);
                },
                vm => { ((KvmVm)vm).Start(); return Task.CompletedTask; },
                progress: null, cancellationToken);
            var received = new ReceivedVm((KvmVm)outcome.Vm, socket!, outcome);
            socket = null; // the caller serves it now
            if (outcome.PostCopy is { } postCopy) _ = postCopy.ContinueWith(_ => _listener.Stop(), TaskScheduler.Default);
            return received;
        }
        finally
        {
            socket?.Dispose(); // the migration failed before a VM was served on it
        }
    }

    /// <summary>
    /// A post-copy destination's incoming pages as the VM process's operation: progress for
    /// `ferry migrate-status` here, and the end of the VM if the source goes away first.
    /// </summary>
    public async Task<OperationStatus> WatchPostCopyAsync(ReceivedVm received, OperationTracker.OperationProgress? progress)
    {
        var vm = received.Vm;
        var postCopy = received.Outcome.PostCopy!;
        var receiver = received.Outcome.PostCopyReceiver!;
        var cpuBefore = VmmCpuTime.Now();
        long pageSize = ((Migration.Vm.IMigratableVm)vm).Memory.PageSize;
        while (!postCopy.IsCompleted)
        {
            string phase = receiver.LinkDown is { } why ? $"post-copy paused: {why}; waiting for the source to reconnect" : "post-copy";
            progress?.Report(new MigrationProgress(phase, 0, 0, receiver.RemainingPages * pageSize, 0, 0, TimeSpan.Zero, 0)
            {
                PostCopy = new PostCopyProgress(receiver.RemainingPages, receiver.PagesByRequest, receiver.PagesByPush),
            });
            await Task.WhenAny(postCopy, Task.Delay(100));
        }
        try
        {
            var figures = await postCopy;
            Notify?.Invoke($"{vm.Config.Name}: post-copy complete: every page is here " +
                           $"({figures.PagesByPush} pushed, {figures.PagesByRequest} fetched on {figures.Faults} faults, fault latency p50 {figures.LatencyP50.TotalMicroseconds:F0} µs; " +
                           $"VMM CPU outside the vCPUs since the resume {(VmmCpuTime.Now() - cpuBefore).TotalMilliseconds:F0} ms)");
            return new OperationStatus("receive", OperationStatus.Completed, 0, 0, 0, "post-copy complete: every page is here", null);
        }
        catch (Exception e)
        {
            // The pages still missing existed only at the source: running on would read holes.
            string why = $"the VM is lost: {e.Message}. The pages it still lacked were only at the source, so it cannot run on";
            Notify?.Invoke($"{vm.Config.Name}: {why}");
            vm.End(new VmExit(VmExitKind.Lost, why));
            return new OperationStatus("receive", OperationStatus.Failed, 0, 0, 0, why, null);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        if (_accepted is { } accepted)
            foreach (var stream in accepted.Streams) await stream.DisposeAsync();
    }
}

/// <summary>A VM a receive brought here, with the control socket bound for it and how the migration ended.</summary>
public sealed record ReceivedVm(KvmVm Vm, ApiSocket Socket, DestinationOutcome Outcome);
