using System.Net;
using System.Net.Sockets;
using Ferry.Agent.Api;
using Ferry.Agent.Vms;
using Ferry.Api;

namespace Ferry.Agent.Migrations;

/// <summary>The destination side: a receiving VMM prepared for the source agent, and the receive's end recorded.</summary>
public sealed partial class MigrationCoordinator
{
    /// <summary>Destination side: a receiving VMM for this definition, listening on the migration address, accepting only this token.</summary>
    public async Task<PrepareReceiveReply> PrepareReceiveAsync(PrepareReceiveRequest request, CancellationToken cancellationToken)
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
            // Checked as a create here would check it: the images must be here too (shared storage),
            // or, when the source copies them, are made here at paths of this host's own.
            var nets = VmDevices.Nets(d);
            var disks = request.CopyStorage ? CreateCopiedDisks(d, request.DiskSizeBytes) : VmDevices.Disks(d);
            var record = new VmRecord(d.Name, d.Kernel, d.Initrd, d.MemoryBytes, d.Cpus, d.Cmdline, Intent.Receiving) { Disks = disks, Nets = nets };
            lock (_lock) _preparing.Add(d.Name);
            string listen;
            VmmLauncher.ReceiverStart receiver;
            var started = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                registry.Update(record);
                string tokenPath = Path.Combine(state.VmDirectory(d.Name), "migration.token");
                // One migration's, read once by its receiver: no use after a reboot.
                StateDirectory.WriteAtomically(tokenPath, System.Text.Encoding.ASCII.GetBytes(request.MigrationToken), durable: false);
                listen = $"{settings.MigrationAddress}:{FreePort(settings.MigrationAddress)}";
                receiver = await launcher.ReceiveAsync(record, listen, tokenPath, cancellationToken);
                lock (_lock) _receivers[d.Name] = receiver.Pid;
            }
            finally
            {
                lock (_lock) _preparing.Remove(d.Name);
            }
            events.Publish(d.Name, "receiving", $"on {listen}" + (receiver.Standby ? " (the standby receiver)" : ""));
            return new PrepareReceiveReply { Listen = listen, ReceiverStartMs = started.Elapsed.TotalMilliseconds, StandbyReceiver = receiver.Standby };
        }, cancellationToken);
    }

    /// <summary>
    /// Destination side, when the source's VMM gave up before the commit: cancels the receiving
    /// VMM (it refuses once it said Ready, and is then left to the source's word) and, once it
    /// ended, records that the receive failed. Without this a receiver whose source never
    /// connected would wait on, holding the VM's name here.
    /// </summary>
    public async Task<Vm> AbortReceiveAsync(string name, CancellationToken cancellationToken)
    {
        var record = registry.Get(name);
        if (record.Intent != Intent.Receiving) throw new AgentException($"{name} is not being received here ({record.Intent})");
        var api = registry.Api(name);
        try { await api.CancelOperationAsync(cancellationToken); }
        catch (ApiException)
        {
            // Refused: past Ready (left to the source's word), or its receive had not begun yet,
            // in which case nothing of the VM is here and the receiver can simply be stopped.
            try
            {
                var operation = await api.OperationAsync(cancellationToken);
                if (operation.Receive is not { Cancellable: false }) await api.StopAsync(cancellationToken);
            }
            catch (ApiException) { /* ending already */ }
        }
        // Until the process is gone, not just its socket: a jailed VMM's ending takes a moment more.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (registry.VmmProcessAlive(name) is not null && DateTime.UtcNow < deadline) await Task.Delay(100, cancellationToken);
        var vm = await registry.ObserveAsync(record, cancellationToken);
        if (vm.Pid == 0) SettleIn(record, vm);
        return vm;
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
