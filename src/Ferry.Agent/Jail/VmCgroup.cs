using System.Globalization;

namespace Ferry.Agent.Jail;

/// <summary>
/// One VM's cgroups (v1): a `memory` group limited to the guest's RAM plus the VMM's overhead, and a
/// `cpu` group whose CFS quota is the VM's vCPUs. Each is made below the agent's own group in its
/// hierarchy (from /proc/self/cgroup), so limits put on the agent also bound its VMs. The kernel's
/// OOM killer then picks only inside the VM's group, where the VMM is the one process.
/// Its directories are listed in vms/NAME/cgroups, so an agent that restarts removes them too.
/// </summary>
public sealed class VmCgroup
{
    public const string Root = "/sys/fs/cgroup";
    private static readonly string[] Controllers = ["memory", "cpu"];
    private const long CfsPeriodUs = 100_000;

    public IReadOnlyList<string> Directories { get; }

    private VmCgroup(IReadOnlyList<string> directories) => Directories = directories;

    /// <summary>Why this host cannot give VMs cgroups, or null.</summary>
    public static string? Missing()
    {
        if (!File.Exists(Path.Combine(Root, "memory", "memory.limit_in_bytes")))
            return $"the cgroup v1 memory controller at {Root}/memory";
        if (!File.Exists(Path.Combine(Root, "cpu", "cpu.cfs_quota_us")))
            return $"the cgroup v1 cpu controller at {Root}/cpu";
        return null;
    }

    /// <summary>Makes (or resets) the VM's groups with their limits. <paramref name="leaf"/> names the VM uniquely on this host.</summary>
    public static VmCgroup Create(string leaf, ulong memoryLimitBytes, int cpus)
    {
        var directories = new List<string>();
        foreach (string controller in Controllers)
        {
            string dir = Path.Combine(Root, controller) + OwnGroup(controller).TrimEnd('/') + "/" + leaf;
            System.IO.Directory.CreateDirectory(dir);
            directories.Add(dir);
        }
        var group = new VmCgroup(directories);
        group.Limit(memoryLimitBytes, cpus);
        return group;
    }

    /// <summary>
    /// Sets the groups' limits: at their making, and again when a standby receiver (made with a
    /// VMM's overhead alone) is claimed for a VM. Raising memory+swap before memory keeps the kernel's
    /// rule that it is never below memory's limit.
    /// </summary>
    public void Limit(ulong memoryLimitBytes, int cpus)
    {
        string memory = Directory("memory"), cpu = Directory("cpu");
        // With swap accounting, memory+swap gets the same limit: the VMM is killed, not swapped out.
        bool swap = File.Exists(Path.Combine(memory, "memory.memsw.limit_in_bytes"));
        bool raising = memoryLimitBytes >= MemoryLimitBytes();
        if (swap && raising) Write(memory, "memory.memsw.limit_in_bytes", memoryLimitBytes);
        Write(memory, "memory.limit_in_bytes", memoryLimitBytes);
        if (swap && !raising) Write(memory, "memory.memsw.limit_in_bytes", memoryLimitBytes);
        Write(cpu, "cpu.cfs_period_us", CfsPeriodUs);
        Write(cpu, "cpu.cfs_quota_us", CfsPeriodUs * cpus);
    }

    /// <summary>
    /// The same groups under the name <paramref name="leaf"/> (cgroup v1 renames a group within its
    /// parent, its processes and limits kept): a claimed standby receiver's groups take the VM's
    /// name. An empty group of that name an ended VMM left is removed first.
    /// </summary>
    public VmCgroup RenamedTo(string leaf)
    {
        var directories = new List<string>();
        foreach (string dir in Directories)
        {
            string renamed = Path.Combine(Path.GetDirectoryName(dir)!, leaf);
            if (renamed != dir)
            {
                if (System.IO.Directory.Exists(renamed)) System.IO.Directory.Delete(renamed);
                System.IO.Directory.Move(dir, renamed);
            }
            directories.Add(renamed);
        }
        return new VmCgroup(directories);
    }

    /// <summary>The groups listed in <paramref name="listPath"/> (written by <see cref="Save"/>), or null.</summary>
    public static VmCgroup? Load(string listPath) =>
        File.Exists(listPath) ? new VmCgroup([.. File.ReadAllLines(listPath).Where(l => l.StartsWith(Root + "/", StringComparison.Ordinal))]) : null;

    /// <summary>Lists the groups in <paramref name="listPath"/>; not flushed to disk, since cgroups do not outlive a reboot.</summary>
    public void Save(string listPath) =>
        StateDirectory.WriteAtomically(listPath, System.Text.Encoding.UTF8.GetBytes(string.Join('\n', Directories) + "\n"), durable: false);

    /// <summary>The tasks files a single-threaded process writes 0 to, to join every group (ferry-jail.c says why not cgroup.procs).</summary>
    public IEnumerable<string> TasksFiles => Directories.Select(d => Path.Combine(d, "tasks"));

    /// <summary>How often the kernel's OOM killer killed a process of this VM's memory group (0 when gone).</summary>
    public long OomKills()
    {
        try
        {
            foreach (string line in File.ReadLines(Path.Combine(Directory("memory"), "memory.oom_control")))
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal)) return long.Parse(line[9..], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        return 0;
    }

    public ulong MemoryLimitBytes()
    {
        try { return ulong.Parse(File.ReadAllText(Path.Combine(Directory("memory"), "memory.limit_in_bytes")).Trim(), CultureInfo.InvariantCulture); }
        catch (IOException) { return 0; }
    }

    /// <summary>Removes every group; false while a process is still in one (the VMM has not ended yet).</summary>
    public bool TryRemove()
    {
        bool all = true;
        foreach (string dir in Directories)
        {
            try { if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir); }
            catch (IOException) { all = false; } // EBUSY: a process is still in it
        }
        return all;
    }

    /// <summary>
    /// Removes the empty groups, below the agent's own in each hierarchy, whose names start with
    /// <paramref name="prefix"/>, except <paramref name="keep"/>: those of standby receivers an agent
    /// killed mid-start made but never listed. A group with a process in it stays.
    /// </summary>
    public static void RemoveUnlisted(string prefix, string? keep)
    {
        foreach (string controller in Controllers)
        {
            string parent = Path.Combine(Root, controller) + OwnGroup(controller).TrimEnd('/');
            if (!System.IO.Directory.Exists(parent)) continue;
            foreach (string dir in System.IO.Directory.EnumerateDirectories(parent, prefix + "*"))
            {
                if (Path.GetFileName(dir) == keep) continue;
                try { System.IO.Directory.Delete(dir); }
                catch (IOException) { /* a process is still in it */ }
            }
        }
    }

    /// <summary>Removes the groups listed in <paramref name="listPath"/>, and the list; false while a VMM still runs in one.</summary>
    public static bool RemoveListed(string listPath)
    {
        if (Load(listPath) is not { } cgroup) return true;
        if (!cgroup.TryRemove()) return false;
        File.Delete(listPath);
        return true;
    }

    /// <summary>Why the kernel killed the VMM, if its memory group says it was the OOM killer; null otherwise.</summary>
    public static string? OomDetail(string listPath)
    {
        if (Load(listPath) is not { } cgroup || cgroup.OomKills() == 0) return null;
        return $"killed by the kernel's OOM killer: the VM reached its memory limit of {cgroup.MemoryLimitBytes() >> 20} MiB (guest RAM + the VMM's overhead)";
    }

    private string Directory(string controller) =>
        Directories.FirstOrDefault(d => d.StartsWith($"{Root}/{controller}/", StringComparison.Ordinal)) ?? $"{Root}/{controller}/-";

    /// <summary>The agent's own group in a hierarchy: "/a/b" from a line "4:memory:/a/b" of /proc/self/cgroup.</summary>
    private static string OwnGroup(string controller)
    {
        foreach (string line in File.ReadLines("/proc/self/cgroup"))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length == 3 && parts[1].Split(',').Contains(controller)) return parts[2];
        }
        return "/";
    }

    private static void Write(string dir, string file, long value) => File.WriteAllText(Path.Combine(dir, file), value.ToString(CultureInfo.InvariantCulture));
    private static void Write(string dir, string file, ulong value) => File.WriteAllText(Path.Combine(dir, file), value.ToString(CultureInfo.InvariantCulture));
}
