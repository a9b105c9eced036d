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
    /// <summary>VMs whose migration out a MigrateVm call of this agent is relaying now.</summary>
    private readonly HashSet<string> _relaying = [];
    /// <summary>Receives an AwaitReceive call of the source agent is watching now.</summary>
    private readonly HashSet<string> _awaiting = [];
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
        if (record.Intent == Intent.MigratingOut) throw new AgentException($"{record.Name} is already migrating to {record.MigratedTo}");
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
        // Recorded before the VMM is told: an agent that dies from here on finds, restarted, a
        // migration to settle rather than a VM that seems to have died (SettleAsync).
        registry.Update(record with { Intent = Intent.MigratingOut, MigratedTo = request.To, Detail = null });
        lock (_lock) _relaying.Add(record.Name);
        try
        {
            try
            {
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
            }
            catch (ApiException)
            {
                // The VMM refused: nothing began, the VM runs here as before.
                registry.Update(record with { Intent = Intent.Running, MigratedTo = null });
                throw;
            }
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

            var outcome = await SettleOutAsync(registry.Get(record.Name), last, awaitDestination: true, cancellationToken);
            var final = last is not null ? Update(last, setupMs) : new MigrationUpdate { Phase = outcome.Moved ? "completed" : "failed", AgentSetupMs = setupMs };
            final.Done = true;
            final.Succeeded = outcome.Moved;
            if (!outcome.Moved && last is null) final.Message = outcome.Why;
            await report(final);
        }
        finally
        {
            lock (_lock) _relaying.Remove(record.Name);
        }
    }

    /// <summary>What became of a migration out, once known.</summary>
    private sealed record OutOutcome(bool Settled, bool Moved, string Why);

    /// <summary>
    /// Settles a VM recorded as migrating out: from its source VMM's operation (<paramref name="last"/>,
    /// or asked now) and the destination agent's word. Moved: recorded as migrated. Failed before
    /// the commit: it runs here again. Outcome unknown: held here, as the VMM says. Not yet known
    /// (still under way, or the destination cannot be asked): left as it is, for the next look.
    /// </summary>
    private async Task<OutOutcome> SettleOutAsync(VmRecord record, OperationStatus? last, bool awaitDestination, CancellationToken cancellationToken)
    {
        string to = record.MigratedTo ?? "";
        bool vmmAlive = ApiClient.IsAlive(state.ApiSocketPath(record.Name));
        if (last is null && vmmAlive)
        {
            try { last = await registry.Api(record.Name).OperationAsync(cancellationToken); }
            catch (ApiException) { vmmAlive = ApiClient.IsAlive(state.ApiSocketPath(record.Name)); }
        }
        if (last is { Finished: false }) return new(false, false, "still under way");
        if (last?.Phase is OperationStatus.Failed or OperationStatus.OutcomeUnknown && vmmAlive)
        {
            bool held = last.Phase == OperationStatus.OutcomeUnknown;
            registry.Update(record with { Intent = Intent.Running, MigratedTo = null, Detail = held ? last.Message : null });
            events.Publish(record.Name, held ? "held" : "migration-failed", last.Message);
            return new(true, false, last.Message);
        }

        // Completed: the destination confirmed it runs the VM before the source let go. Else the
        // VMM is gone without a word, and where the VM is now, the destination says.
        Vm? there = last?.Phase == OperationStatus.Completed && !awaitDestination ? null
            : await DestinationSaysAsync(to, record.Name, awaitDestination, cancellationToken);
        bool moved = last?.Phase == OperationStatus.Completed || there?.State is "running" or "held";
        if (!moved && there is null) return new(false, false, $"the destination agent {to} cannot be asked where {record.Name} is; this agent asks again until it answers");
        if (moved)
        {
            registry.Update(record with { Intent = Intent.Migrated, MigratedTo = to, Detail = null });
            events.Publish(record.Name, "migrated-out", $"to {to}");
            return new(true, true, "");
        }
        string why = $"the source VMM ended and the destination says {there!.State}{(there.Detail.Length > 0 ? $": {there.Detail}" : "")}";
        if (!vmmAlive)
        {
            // Neither side runs it: say so, never start it again by itself.
            registry.Update(record with { Intent = Intent.Running, MigratedTo = null, Detail = why });
            events.Publish(record.Name, "died", why);
        }
        return new(true, false, why);
    }

    /// <summary>The destination agent's word on the VM: null when it cannot be reached.</summary>
    private async Task<Vm?> DestinationSaysAsync(string to, string name, bool awaitReceive, CancellationToken cancellationToken)
    {
        var peer = Peer(to);
        try
        {
            if (awaitReceive)
            {
                try { return await peer.Client.AwaitReceiveAsync(new VmRef { Name = name }, cancellationToken: cancellationToken); }
                // A destination agent restarted since it prepared the receive no longer awaits it.
                catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.FailedPrecondition) { }
            }
            return await peer.Client.GetVmAsync(new VmRef { Name = name }, cancellationToken: cancellationToken);
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.FailedPrecondition)
        {
            return new Vm { Definition = new VmDefinition { Name = name }, State = "absent", Detail = e.Status.Detail };
        }
        catch (Grpc.Core.RpcException) { return null; }
    }

    /// <summary>
    /// Called by the survey every second: settles migrations out that no relay of this agent
    /// watches (its agent died or its caller hung up), and receives this agent no longer awaits
    /// (it was restarted): the VM that runs here after one is recorded as running.
    /// </summary>
    public async Task SettleAsync(CancellationToken cancellationToken)
    {
        foreach (var record in registry.Records)
        {
            bool watched;
            lock (_lock) watched = _relaying.Contains(record.Name) || _awaiting.Contains(record.Name);
            if (watched) continue;
            try
            {
                if (record.Intent == Intent.MigratingOut) await SettleOutAsync(record, last: null, awaitDestination: false, cancellationToken);
                else if (record.Intent == Intent.Receiving) await SettleInAsync(record, cancellationToken);
            }
            catch (Exception e) when (e is ApiException or IOException) { /* looked at again next time */ }
        }
    }

    private async Task SettleInAsync(VmRecord record, CancellationToken cancellationToken)
    {
        var vm = await registry.ObserveAsync(record, cancellationToken);
        if (vm.Pid > 0 && vm.State is not ("running" or "held")) return; // still receiving
        SettleIn(record, vm);
    }

    /// <summary>
    /// Records how a receive ended: the VM runs (or is held) here, or its VMM ended without it.
    /// Returns why it failed, or "" when it runs.
    /// </summary>
    private string SettleIn(VmRecord record, Vm vm)
    {
        lock (_lock) _receivers.Remove(record.Name);
        if (vm.Pid > 0 && vm.State is "running" or "held")
        {
            registry.Update(record with { Intent = Intent.Running, Detail = vm.State == "held" ? vm.Detail : null });
            events.Publish(record.Name, vm.State == "held" ? "held" : "migrated-in", vm.Detail);
            return "";
        }
        string why = registry.LastVmmMessage(record.Name) ?? "its VMM ended";
        registry.Update(record with { Intent = Intent.Defined, Detail = $"a migration in failed: {why}" });
        return why;
    }

    private static MigrationUpdate Update(OperationStatus status, double setupMs) => new()
    {
        Phase = status.Phase,
        // A live migration has no fixed total: what was sent, of that plus what is left to send.
        BytesDone = status.Live is not null ? status.BytesTransferred : status.MemoryBytesDone,
        BytesTotal = status.Live is { } live ? status.BytesTransferred + live.RemainingBytes : status.MemoryBytesTotal,
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
        {
            if (!_receivers.TryGetValue(name, out pid)) throw new AgentException($"no migration of {name} is being received here");
            _awaiting.Add(name);
        }
        try
        {
            while (true)
            {
                var record = registry.Get(name);
                var vm = await registry.ObserveAsync(record, cancellationToken);
                if (vm.Pid > 0 && vm.State is "running" or "held")
                {
                    SettleIn(record, vm);
                    return vm;
                }
                if (!ProcessInfo.IsAlive(pid))
                {
                    string why = SettleIn(record, vm);
                    return new Vm { Definition = vm.Definition, State = "failed", Detail = why };
                }
                await Task.Delay(100, cancellationToken);
            }
        }
        finally
        {
            lock (_lock) _awaiting.Remove(name);
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
