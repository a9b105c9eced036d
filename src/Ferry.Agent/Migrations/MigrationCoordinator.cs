using System.Diagnostics;
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
public sealed partial class MigrationCoordinator(StateDirectory state, AgentSettings settings, VmRegistry registry, VmmLauncher launcher, EventHub events)
    : IDisposable
{
    private static readonly TimeSpan PrepareTimeout = VmmLauncher.StartTimeout + TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _slots = new(settings.MaxMigrations, settings.MaxMigrations);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _receivers = [];
    /// <summary>VMs whose migration out a MigrateVm call of this agent is relaying now.</summary>
    private readonly HashSet<string> _relaying = [];
    /// <summary>Receives an AwaitReceive call of the source agent is watching now.</summary>
    private readonly HashSet<string> _awaiting = [];
    /// <summary>
    /// Receivers being launched now: recorded as receiving before their VMM has a pid or a
    /// socket, they must not be settled as ended meanwhile (the survey would mark the receive
    /// failed and leave the VMM, once up, waiting with nobody to cancel it).
    /// </summary>
    private readonly HashSet<string> _preparing = [];
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

    /// <summary>No migration runs on this host: none out, none being prepared or awaited in.</summary>
    public bool Quiet
    {
        get { lock (_lock) return InFlight == 0 && _preparing.Count == 0 && _awaiting.Count == 0; }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var peer in _peers.Values) peer.Dispose();
            _peers.Clear();
        }
        _slots.Dispose();
    }

    public async Task MigrateAsync(MigrateVmRequest request, Func<MigrationUpdate, Task> report, CancellationToken cancellationToken)
    {
        var record = registry.Get(request.Name);
        // Before anything else: a copy that cannot be made is refused with nothing started.
        var diskSizes = request.CopyStorage ? CopiedDiskSizes(record) : [];
        if (record.Intent == Intent.MigratingOut) throw new AgentException($"{record.Name} is already migrating to {record.MigratedTo}");
        if (record.Intent != Intent.Running || !ApiClient.IsAlive(state.ApiSocketPath(record.Name)))
            throw new AgentException($"{record.Name} is not running on this host");
        if (!await _slots.WaitAsync(0, cancellationToken))
            throw new AgentException($"this host already runs {settings.MaxMigrations} migrations, its limit: try again when one has finished");
        Interlocked.Increment(ref _inFlight);
        try
        {
            await RunSourceAsync(record, request, diskSizes, report, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _slots.Release();
        }
    }

    private async Task RunSourceAsync(VmRecord record, MigrateVmRequest request, IReadOnlyList<ulong> diskSizes, Func<MigrationUpdate, Task> report,
        CancellationToken cancellationToken)
    {
        string mode = request.Mode.Length > 0 ? request.Mode : "precopy";
        var clock = Stopwatch.StartNew();
        string token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var peer = Peer(request.To);
        // From the record, as ObserveAsync would give it: asking the VMM again would only add a round trip.
        var definition = VmRegistry.Definition(record);
        var prepare = new PrepareReceiveRequest { Definition = definition, MigrationToken = token, Mode = mode, CopyStorage = request.CopyStorage };
        prepare.DiskSizeBytes.AddRange(diskSizes);
        // Bounded: the destination launches its receiver within VmmLauncher.StartTimeout or says why.
        var prepared = await peer.Client.PrepareReceiveAsync(prepare, deadline: DateTime.UtcNow.Add(PrepareTimeout), cancellationToken: cancellationToken);
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
                    CopyStorage = request.CopyStorage,
                }, cancellationToken);
            }
            catch (ApiException)
            {
                // The VMM refused: nothing began, the VM runs here as before, and the receiver
                // prepared for it has nothing to wait for.
                registry.Update(record with { Intent = Intent.Running, MigratedTo = null });
                await AbortReceiveAtAsync(peer, record.Name);
                throw;
            }
            var setup = new SetupTimes(clock.Elapsed.TotalMilliseconds, prepared.ReceiverStartMs, prepared.StandbyReceiver);
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
                await report(Update(now, setup));
                await Task.Delay(200, cancellationToken);
            }

            var outcome = await SettleOutAsync(registry.Get(record.Name), last, awaitDestination: true, cancellationToken);
            if (outcome.Settled && !outcome.Moved && last?.Phase == OperationStatus.Failed) await AbortReceiveAtAsync(peer, record.Name);
            var final = last is not null ? Update(last, setup)
                : new MigrationUpdate { Phase = outcome.Moved ? "completed" : "failed", AgentSetupMs = setup.TotalMs, ReceiverStartMs = setup.ReceiverStartMs, StandbyReceiver = setup.StandbyReceiver };
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

    /// <summary>Asks the destination agent to end the receiver of a migration that failed here; best effort (it may be gone, or have ended already).</summary>
    private static async Task AbortReceiveAtAsync(AgentConnection peer, string name)
    {
        try { await peer.Client.AbortReceiveAsync(new VmRef { Name = name }, deadline: DateTime.UtcNow.AddSeconds(15)); }
        catch (Grpc.Core.RpcException) { /* unreachable, or nothing left to abort there */ }
    }

    /// <summary>The agents' set-up until the source VMM was told to send, and the destination's start of its receiver within it.</summary>
    private sealed record SetupTimes(double TotalMs, double ReceiverStartMs, bool StandbyReceiver);

    private static MigrationUpdate Update(OperationStatus status, SetupTimes setup) => new()
    {
        Phase = status.Phase,
        // A live migration has no fixed total: what was sent, of that plus what is left to send.
        BytesDone = status.Live is not null ? status.BytesTransferred : status.MemoryBytesDone,
        BytesTotal = status.Live is { } live ? status.BytesTransferred + live.RemainingBytes : status.MemoryBytesTotal,
        Message = status.Message,
        AgentSetupMs = setup.TotalMs,
        ReceiverStartMs = setup.ReceiverStartMs,
        StandbyReceiver = setup.StandbyReceiver,
        ReportJson = status.Report is null ? "" : JsonSerializer.Serialize(status, ApiJson.Default.OperationStatus),
    };
}
