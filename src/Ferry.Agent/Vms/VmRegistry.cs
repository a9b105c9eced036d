using System.Text.RegularExpressions;
using Ferry.Agent.Api;
using Ferry.Agent.Jail;
using Ferry.Api;

namespace Ferry.Agent.Vms;

/// <summary>
/// This host's VMs: their records (persisted), their VMMs (asked through their control sockets)
/// and what changed (events). Calls for one VM are serialised; calls for different VMs are not.
/// </summary>
public sealed partial class VmRegistry(StateDirectory state, VmStore store, VmmLauncher launcher, EventHub events)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, VmRecord> _records = store.LoadAll().ToDictionary(r => r.Name);
    private readonly Dictionary<string, string> _lastState = [];
    private readonly Dictionary<string, SemaphoreSlim> _perVm = [];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
    private static partial Regex NamePattern();

    public IReadOnlyList<VmRecord> Records { get { lock (_lock) return [.. _records.Values.OrderBy(r => r.Name, StringComparer.Ordinal)]; } }

    public VmRecord Get(string name)
    {
        lock (_lock)
            return _records.TryGetValue(name, out var r) ? r : throw new AgentException($"no VM named {name} on this host");
    }

    public bool Exists(string name) { lock (_lock) return _records.ContainsKey(name); }

    public ApiClient Api(string name) => new(state.ApiSocketPath(name));

    public VmRecord Create(VmDefinition d)
    {
        if (!NamePattern().IsMatch(d.Name)) throw new AgentException($"invalid VM name '{d.Name}': 1 to 40 letters, digits, '.', '_' or '-', not starting with a symbol");
        if (!File.Exists(d.Kernel)) throw new AgentException($"kernel {d.Kernel} does not exist on this host");
        if (d.Initrd.Length > 0 && !File.Exists(d.Initrd)) throw new AgentException($"initrd {d.Initrd} does not exist on this host");
        if (d.MemoryBytes < (1UL << 20)) throw new AgentException("memory must be at least 1 MiB");
        if (d.Cpus < 1) throw new AgentException("a VM needs at least one vCPU");
        var record = new VmRecord(d.Name, Path.GetFullPath(d.Kernel), d.Initrd.Length > 0 ? Path.GetFullPath(d.Initrd) : "", d.MemoryBytes, d.Cpus, d.Cmdline, Intent.Defined)
        {
            Disks = VmDevices.Disks(d),
            Nets = VmDevices.Nets(d),
        };
        lock (_lock)
        {
            if (_records.ContainsKey(d.Name)) throw new AgentException($"a VM named {d.Name} already exists on this host");
            store.Save(record);
            _records[d.Name] = record;
        }
        events.Publish(d.Name, "created");
        return record;
    }

    /// <summary>Replaces a record (same name) on disk and in memory.</summary>
    public void Update(VmRecord record)
    {
        lock (_lock)
        {
            store.Save(record);
            _records[record.Name] = record;
        }
    }

    /// <summary>Runs <paramref name="action"/> with no other call on the same VM in between.</summary>
    public async Task<T> ExclusiveAsync<T>(string name, Func<Task<T>> action, CancellationToken cancellationToken)
    {
        SemaphoreSlim gate;
        lock (_lock)
        {
            if (!_perVm.TryGetValue(name, out gate!)) _perVm[name] = gate = new SemaphoreSlim(1, 1);
        }
        await gate.WaitAsync(cancellationToken);
        try { return await action(); }
        finally { gate.Release(); }
    }

    public Task<VmRecord> StartAsync(string name, CancellationToken cancellationToken) => ExclusiveAsync(name, async () =>
    {
        var record = Get(name);
        if (ApiClient.IsAlive(state.ApiSocketPath(name))) throw new AgentException($"{name} is already running");
        if (record.Intent == Intent.Migrated) throw new AgentException($"{name} was migrated to {record.MigratedTo}; it runs there now");
        if (record.Intent == Intent.Receiving) throw new AgentException($"{name} is being received from another host");
        if (record.Intent == Intent.MigratingOut) throw new AgentException($"{name} is migrating to {record.MigratedTo}; wait for the outcome");
        int pid = await launcher.RunAsync(record, cancellationToken);
        // The control socket answers while the VM is still being built ("created"): the caller is told once it runs.
        for (int i = 0; i < 200 && ProcessInfo.IsAlive(pid); i++)
        {
            try { if ((await Api(name).StatusAsync(cancellationToken)).State != "created") break; }
            catch (ApiException) { /* between its socket and its first answer */ }
            await Task.Delay(50, cancellationToken);
        }
        record = record with { Intent = Intent.Running, Detail = null };
        Update(record);
        events.Publish(name, "started");
        return record;
    }, cancellationToken);

    public Task<VmRecord> StopAsync(string name, CancellationToken cancellationToken) => ExclusiveAsync(name, async () =>
    {
        var record = Get(name);
        if (ApiClient.IsAlive(state.ApiSocketPath(name)))
        {
            int pid = (await Api(name).StatusAsync(cancellationToken)).Pid;
            await Api(name).StopAsync(cancellationToken);
            for (int i = 0; i < 200 && ProcessInfo.IsAlive(pid); i++) await Task.Delay(50, cancellationToken);
        }
        // An ended VMM stays in its groups until it is reaped; whatever is left, the survey removes.
        for (int i = 0; i < 40 && !VmCgroup.RemoveListed(state.CgroupListPath(name)); i++) await Task.Delay(50, cancellationToken);
        record = record with { Intent = Intent.Stopped, Detail = null };
        Update(record);
        events.Publish(name, "stopped", "on request");
        return record;
    }, cancellationToken);

    public Task<VmRecord> DeleteAsync(string name, CancellationToken cancellationToken) => ExclusiveAsync(name, () =>
    {
        var record = Get(name);
        if (ApiClient.IsAlive(state.ApiSocketPath(name))) throw new AgentException($"{name} is running: stop it first");
        if (record.Intent == Intent.MigratingOut) throw new AgentException($"{name}'s migration to {record.MigratedTo} is not settled yet: it may run there");
        if (!VmCgroup.RemoveListed(state.CgroupListPath(name))) throw new AgentException($"{name}'s VMM is still ending: try again");
        if (Directory.Exists(state.VmRunDirectory(name))) Directory.Delete(state.VmRunDirectory(name), recursive: true);
        lock (_lock)
        {
            store.Delete(name);
            _records.Remove(name);
            _lastState.Remove(name);
        }
        events.Publish(name, "deleted");
        return Task.FromResult(record);
    }, cancellationToken);

    /// <summary>What the VM is doing now: its VMM's answer if it has one, else what its record says.</summary>
    /// <summary>The VM's definition as the API shows it (and as a migration hands it to the destination).</summary>
    public static VmDefinition Definition(VmRecord record)
    {
        var d = new VmDefinition { Name = record.Name, Kernel = record.Kernel, Initrd = record.Initrd, MemoryBytes = record.MemoryBytes, Cpus = record.Cpus, Cmdline = record.Cmdline };
        VmDevices.Describe(record, d);
        return d;
    }

    public async Task<Vm> ObserveAsync(VmRecord record, CancellationToken cancellationToken)
    {
        var vm = new Vm
        {
            Definition = Definition(record),
            MigratedTo = record.MigratedTo ?? "",
            Detail = record.Detail ?? "",
        };
        VmStatus? status = null;
        if (ApiClient.IsAlive(state.ApiSocketPath(record.Name)))
        {
            try { status = await Api(record.Name).StatusAsync(cancellationToken); }
            catch (ApiException) { /* it ended between the two calls */ }
        }
        if (status is not null)
        {
            vm.State = status.Hold is not null ? "held" : status.State;
            if (status.Hold is not null) vm.Detail = status.Hold;
            vm.Pid = status.Pid;
            vm.UptimeMs = status.UptimeMs;
            vm.CpuMs = ProcessInfo.CpuMs(status.Pid) ?? 0;
        }
        else if (VmmProcessAlive(record.Name) is int pid)
        {
            // Its process is there but its socket did not answer this time (busy, or between a
            // receive and the run): not dead, and not to be settled as if it were.
            vm.State = "unresponsive";
            vm.Pid = pid;
            vm.Detail = "its VMM did not answer its control socket";
        }
        else
        {
            vm.State = record.Intent switch
            {
                Intent.Running => "died",
                _ => record.Intent,
            };
            if (vm.State == "died" && vm.Detail.Length == 0)
                vm.Detail = VmCgroup.OomDetail(state.CgroupListPath(record.Name)) ?? LastVmmMessage(record.Name) ?? "its VMM ended";
        }
        return vm;
    }

    /// <summary>Called every second: publishes what changed since the last look (a VM that started, stopped, died).</summary>
    public async Task<IReadOnlyList<Vm>> SurveyAsync(CancellationToken cancellationToken)
    {
        var seen = new List<Vm>();
        foreach (var record in Records)
        {
            var vm = await ObserveAsync(record, cancellationToken);
            seen.Add(vm);
            if (vm.Pid == 0) await ForgetEndedVmmAsync(record.Name, vm);
            string? before;
            lock (_lock) _lastState.TryGetValue(record.Name, out before);
            if (before == vm.State) continue;
            lock (_lock) _lastState[record.Name] = vm.State;
            if (before is null) continue; // first look after the agent started: nothing changed
            if (vm.State == "died") events.Publish(record.Name, "died", vm.Detail);
            else if (vm.State == "held") events.Publish(record.Name, "held", vm.Detail);
        }
        return seen;
    }

    /// <summary>
    /// A VMM that ended leaves its cgroups: why it died is kept in the record first (the OOM
    /// killer's count is in its memory group), then the groups are removed.
    /// </summary>
    private async Task ForgetEndedVmmAsync(string name, Vm vm)
    {
        if (!File.Exists(state.CgroupListPath(name))) return;
        // Not while a call on this VM runs: a start makes the groups before its VMM joins them.
        SemaphoreSlim gate;
        lock (_lock)
        {
            if (!_perVm.TryGetValue(name, out gate!)) _perVm[name] = gate = new SemaphoreSlim(1, 1);
        }
        if (!await gate.WaitAsync(0)) return;
        try
        {
            if (!Exists(name) || ApiClient.IsAlive(state.ApiSocketPath(name))) return;
            var record = Get(name);
            if (vm.State == "died" && record.Detail is null) Update(record with { Detail = vm.Detail });
            VmCgroup.RemoveListed(state.CgroupListPath(name));
        }
        finally { gate.Release(); }
    }

    /// <summary>The VMM's pid (vms/NAME/vmm.pid) if that process still runs; null otherwise.</summary>
    public int? VmmProcessAlive(string name)
    {
        string path = state.VmmPidPath(name);
        try
        {
            return File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), out int pid) && ProcessInfo.IsAlive(pid) ? pid : null;
        }
        catch (IOException) { return null; }
    }

    public string? LastVmmMessage(string name)
    {
        string log = state.VmmLogPath(name);
        if (!File.Exists(log)) return null;
        return File.ReadLines(log).Where(l => l.Trim().Length > 0).LastOrDefault()?.Trim();
    }
}
