using Ferry.Agent.Api;

namespace Ferry.Agent;

/// <summary>
/// The host's capacity and load for GetHost: cores and memory from /proc, and how much CPU
/// each running VMM used (vCPUs included) between the last two surveys. GetHost answers from
/// the last survey (at most a second old), so a controller polling many hosts costs each agent
/// no round of questions to its VMMs.
/// </summary>
public sealed class HostLoad(string hostName)
{
    private readonly Lock _lock = new();
    private Dictionary<int, (long CpuMs, long At)> _last = [];
    private Dictionary<string, double> _coresByVm = [];
    private IReadOnlyList<Vm>? _lastSurvey;

    /// <summary>The VMs as the last survey saw them; null before the first.</summary>
    public IReadOnlyList<Vm>? LastSurvey { get { lock (_lock) return _lastSurvey; } }

    /// <summary>Takes a CPU sample of the VMs running now; called with every survey.</summary>
    public void Sample(IReadOnlyList<Vm> vms)
    {
        long now = Environment.TickCount64;
        var next = new Dictionary<int, (long, long)>();
        var cores = new Dictionary<string, double>();
        lock (_lock)
        {
            foreach (var vm in vms.Where(v => v.Pid > 0))
            {
                next[vm.Pid] = (vm.CpuMs, now);
                if (_last.TryGetValue(vm.Pid, out var before) && now > before.At)
                    cores[vm.Definition.Name] = (vm.CpuMs - before.CpuMs) / (double)(now - before.At);
            }
            _last = next;
            _coresByVm = cores;
            _lastSurvey = vms;
        }
    }

    public HostInfo Describe(IReadOnlyList<Vm> vms, int migrationsInFlight, int maxMigrations)
    {
        var running = vms.Where(v => v.Pid > 0).ToList();
        var meminfo = File.ReadLines("/proc/meminfo").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => ulong.Parse(p[1].Trim().Split(' ')[0]) * 1024);
        var host = new HostInfo
        {
            Name = hostName,
            Cpus = Environment.ProcessorCount,
            MemoryTotalBytes = meminfo.GetValueOrDefault("MemTotal"),
            MemoryAvailableBytes = meminfo.GetValueOrDefault("MemAvailable"),
            Load1M = double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture),
            VmsRunning = running.Count,
            VcpusRunning = running.Sum(v => v.Definition.Cpus),
            MemoryOfRunningVmsBytes = (ulong)running.Sum(v => (decimal)v.Definition.MemoryBytes),
            MigrationsInFlight = migrationsInFlight,
            MaxMigrations = maxMigrations,
        };
        lock (_lock)
        {
            foreach (var (name, cores) in _coresByVm.OrderBy(p => p.Key, StringComparer.Ordinal))
                host.VmLoad.Add(new VmLoad { Name = name, CpuCores = cores });
            host.VmCpuCores = _coresByVm.Values.Sum();
        }
        return host;
    }
}
