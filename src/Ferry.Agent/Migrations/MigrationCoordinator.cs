using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Agent.Api;
using Ferry.Agent.Vms;
using Ferry.Api;

namespace Ferry.Agent.Migrations;

/// <summary>
/// Migrations between agents. Source side: ask the destination agent to prepare a receiving VMM
/// for this definition and a one-time token, then tell the source VMM to send there, and relay
/// its progress. Destination side: start that VMM, and report when the VM runs. The VMMs keep the
/// engine's guarantees (before the commit the VM runs on at the source; an unknown outcome holds
/// it paused); the agents record what happened and never start a VM that may run elsewhere.
/// </summary>
public sealed class MigrationCoordinator(StateDirectory state, AgentSettings settings, VmRegistry registry, VmmLauncher launcher, EventHub events)
{
    private readonly SemaphoreSlim _slots = new(settings.MaxMigrations, settings.MaxMigrations);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _receivers = [];
    private readonly Dictionary<string, AgentConnection> _peers = [];
    private int _inFlight;

    /// <summary>One channel per peer, kept: a TLS handshake per migration would be most of the agents' own set-up time.</summary>
    private AgentConnection Peer(string address)
    {
        lock (_lock)
        {
            if (!_peers.TryGetValue(address, out var peer)) _peers[address] = peer = new AgentConnection(address, state.PeerCredentials);
            return peer;
        }
    }

    public int InFlight => Volatile.Read(ref _inFlight);

    public async Task MigrateAsync(MigrateVmRequest request, Func<MigrationUpdate, Task> report, CancellationToken cancellationToken)
    {
        var record = registry.Get(request.Name);
        if (record.Intent != Intent.Running || !ApiClient.IsAlive(state.ApiSocketPath(record.Name)))
            throw new AgentException($"{record.Name} is not running on this host");
        if (!await _slots.WaitAsync(0, cancellationToken))
            throw new AgentException($"this host already runs {settings.MaxMigrations} migrations, its limit: try again when one has finished");
        Interlocked.Increment(ref _inFlight);
        try
        {
            await RunSourceAsync(record, request, report, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _slots.Release();
        }
    }

    private async Task RunSourceAsync(VmRecord record, MigrateVmRequest request, Func<MigrationUpdate, Task> report, CancellationToken cancellationToken)
    {
        string mode = request.Mode.Length > 0 ? request.Mode : "precopy";
        var clock = Stopwatch.StartNew();
        string token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var peer = Peer(request.To);
        var definition = (await registry.ObserveAsync(record, cancellationToken)).Definition;
        var prepared = await peer.Client.PrepareReceiveAsync(new PrepareReceiveRequest { Definition = definition, MigrationToken = token, Mode = mode },
            cancellationToken: cancellationToken);
        var vmm = registry.Api(record.Name);
        await vmm.MigrateAsync(new MigrateRequest(prepared.Listen, mode, token)
        {
            MaxDowntimeMs = request.MaxDowntimeMs > 0 ? request.MaxDowntimeMs : null,
            BandwidthBitsPerSecond = request.BandwidthBitsPerSecond > 0 ? request.BandwidthBitsPerSecond : null,
            Streams = request.Streams > 0 ? request.Streams : null,
            OnNoConverge = request.OnNoConverge.Length > 0 ? request.OnNoConverge : null,
            VerifyMemory = request.VerifyMemory,
            MaxRounds = request.MaxRounds > 0 ? request.MaxRounds : null,
            TimeoutSeconds = request.TimeoutSeconds > 0 ? request.TimeoutSeconds : null,
        }, cancellationToken);
        double setupMs = clock.Elapsed.TotalMilliseconds;
        events.Publish(record.Name, "migrating-out", $"to {request.To} ({mode})");

        OperationStatus? last = null;
        while (true)
        {
            OperationStatus? now = null;
            try { now = await vmm.OperationAsync(cancellationToken); }
            catch (ApiException) when (!ApiClient.IsAlive(vmm.SocketPath)) { /* the source VMM ended: the VM runs elsewhere */ }
            if (now is null) break;
            last = now;
            if (now.Finished) break;
            await report(Update(now, setupMs));
            await Task.Delay(200, cancellationToken);
        }

        // The destination's word decides where the VM is when the source VMM is gone.
        Vm destination = await peer.Client.AwaitReceiveAsync(new VmRef { Name = record.Name }, cancellationToken: cancellationToken);
        bool moved = last?.Phase == OperationStatus.Completed || (last is null && destination.State == "running");
        if (moved)
        {
            registry.Update(record with { Intent = Intent.Migrated, MigratedTo = request.To, Detail = null });
            events.Publish(record.Name, "migrated-out", $"to {request.To}");
        }
        else if (last?.Phase == OperationStatus.OutcomeUnknown)
        {
            events.Publish(record.Name, "held", last.Message);
        }
        var final = last is not null ? Update(last, setupMs) : new MigrationUpdate { Phase = moved ? "completed" : "failed", AgentSetupMs = setupMs };
        final.Done = true;
        final.Succeeded = moved;
        if (!moved && last is null) final.Message = $"the source VMM ended and the destination says {destination.State}: {destination.Detail}";
        await report(final);
    }

    private static MigrationUpdate Update(OperationStatus status, double setupMs) => new()
    {
        Phase = status.Phase,
        BytesDone = status.MemoryBytesDone,
        BytesTotal = status.MemoryBytesTotal,
        Message = status.Message,
        AgentSetupMs = setupMs,
        ReportJson = status.Report is null ? "" : JsonSerializer.Serialize(status, ApiJson.Default.OperationStatus),
    };

    /// <summary>Destination side: a receiving VMM for this definition, listening on the migration address, accepting only this token.</summary>
    public async Task<string> PrepareReceiveAsync(PrepareReceiveRequest request, CancellationToken cancellationToken)
    {
        var d = request.Definition ?? throw new AgentException("a receive needs the VM's definition");
        if (request.MigrationToken.Length < 32) throw new AgentException("a receive needs a one-time token of at least 32 characters");
        return await registry.ExclusiveAsync(d.Name, async () =>
        {
            if (registry.Exists(d.Name))
            {
                var old = registry.Get(d.Name);
                if (ApiClient.IsAlive(state.ApiSocketPath(d.Name)) || old.Intent is Intent.Running or Intent.Receiving)
                    throw new AgentException($"a VM named {d.Name} already exists on this host ({old.Intent})");
            }
            var record = new VmRecord(d.Name, d.Kernel, d.Initrd, d.MemoryBytes, d.Cpus, d.Cmdline, Intent.Receiving);
            registry.Update(record);
            string tokenPath = Path.Combine(state.VmDirectory(d.Name), "migration.token");
            StateDirectory.WriteAtomically(tokenPath, System.Text.Encoding.ASCII.GetBytes(request.MigrationToken));
            string listen = $"{settings.MigrationAddress}:{FreePort(settings.MigrationAddress)}";
            int pid = await launcher.ReceiveAsync(d.Name, listen, tokenPath, cancellationToken);
            lock (_lock) _receivers[d.Name] = pid;
            events.Publish(d.Name, "receiving", $"on {listen}");
            return listen;
        }, cancellationToken);
    }

    /// <summary>Destination side: waits until the received VM runs here, is held, or its VMM ended.</summary>
    public async Task<Vm> AwaitReceiveAsync(string name, CancellationToken cancellationToken)
    {
        int pid;
        lock (_lock)
            if (!_receivers.TryGetValue(name, out pid)) throw new AgentException($"no migration of {name} is being received here");
        while (true)
        {
            var record = registry.Get(name);
            var vm = await registry.ObserveAsync(record, cancellationToken);
            if (vm.Pid > 0 && vm.State is "running" or "held")
            {
                registry.Update(record with { Intent = Intent.Running, Detail = vm.State == "held" ? vm.Detail : null });
                lock (_lock) _receivers.Remove(name);
                events.Publish(name, vm.State == "held" ? "held" : "migrated-in", vm.Detail);
                return vm;
            }
            if (!ProcessInfo.IsAlive(pid))
            {
                string why = registry.LastVmmMessage(name) ?? "its VMM ended";
                registry.Update(record with { Intent = Intent.Defined, Detail = $"a migration in failed: {why}" });
                lock (_lock) _receivers.Remove(name);
                return new Vm { Definition = vm.Definition, State = "failed", Detail = why };
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    private static int FreePort(string address)
    {
        using var probe = new TcpListener(IPAddress.Parse(address), 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}
