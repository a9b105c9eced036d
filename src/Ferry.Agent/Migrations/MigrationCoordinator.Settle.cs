using Ferry.Agent.Api;
using Ferry.Agent.Vms;
using Ferry.Api;
using Grpc.Core;

namespace Ferry.Agent.Migrations;

/// <summary>
/// Settling migrations whose end no call of this agent saw (it died or was restarted, or its
/// caller hung up), from what the VMMs and the other agent say.
/// </summary>
public sealed partial class MigrationCoordinator
{
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
        bool vmmAlive = ApiClient.IsAlive(state.ApiSocketPath(record.Name)) || registry.VmmProcessAlive(record.Name) is not null;
        if (last is null && vmmAlive)
        {
            try { last = await registry.Api(record.Name).OperationAsync(cancellationToken); }
            catch (ApiException) { vmmAlive = registry.VmmProcessAlive(record.Name) is not null; }
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
        // Its VMM is still there but said nothing this time: look again.
        return new(!vmmAlive, false, why);
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
                catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition) { }
            }
            return await peer.Client.GetVmAsync(new VmRef { Name = name }, cancellationToken: cancellationToken);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
        {
            return new Vm { Definition = new VmDefinition { Name = name }, State = "absent", Detail = e.Status.Detail };
        }
        catch (RpcException) { return null; }
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
            lock (_lock) watched = _relaying.Contains(record.Name) || _awaiting.Contains(record.Name) || _preparing.Contains(record.Name);
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
        lock (_lock)
        {
            _receivers.Remove(record.Name);
            _copiesInFlight.Remove(record.Name);
        }
        if (vm.Pid > 0 && vm.State is "running" or "held")
        {
            registry.Update(record with { Intent = Intent.Running, Detail = vm.State == "held" ? vm.Detail : null });
            events.Publish(record.Name, vm.State == "held" ? "held" : "migrated-in", vm.Detail);
            return "";
        }
        string why = registry.LastVmmMessage(record.Name) ?? "its VMM ended";
        // A copy's images hold part of a disk that still lives at the source: nothing to keep.
        RemoveCopiedDisks(record);
        registry.Update(record with { Intent = Intent.Defined, Detail = $"a migration in failed: {why}" });
        return why;
    }
}
