using System.Globalization;
using System.Security.Cryptography;
using System.Text;

using Ferry.Agent.Vms;

namespace Ferry.Agent.Jail;

/// <summary>
/// How ferryd jails each VMM, in the manner of Firecracker's jailer: its own user (a uid of the
/// agent's range, no passwd entry), its own mount namespace whose root is a tmpfs holding only what
/// that VMM needs, its cgroups (VmCgroup), and `--seccomp`. The namespace has to exist before the
/// VMM starts, since unshare(CLONE_NEWNS) fails in a multi-threaded process such as the .NET
/// runtime: so the launch command is `ferry-jail ...` (ferry-jail.c, built beside ferryd), which
/// detaches, sets up the jail and execs, as the VMM's user, the VMM itself (same pid all along).
/// </summary>
public sealed class VmmJail(StateDirectory state, AgentSettings settings)
{
    /// <summary>Where a jailed VMM sees its files.</summary>
    public const string Ferry = "/ferry", Kernel = "/kernel", Initrd = "/initrd", Console = "/console.log", Token = "/token", Run = "/run",
        ApiSocket = "/run/api.sock";

    /// <summary>Where a jailed VMM sees the VM's disk <paramref name="index"/>.</summary>
    public static string Disk(int index) => $"/disk{index}";

    /// <summary>ferry-jail, beside ferryd (the build and the install put it there).</summary>
    public static readonly string Helper = Path.Combine(AppContext.BaseDirectory, "ferry-jail");
    // The system libraries the NativeAOT ferry links (libc, libm, the loader) or may dlopen (libssl
    // for TLS migrations), and the loader's cache: read-only, nothing else of the host's /usr.
    private static readonly string[] SystemPaths = ["/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/etc/ld.so.cache"];

    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _uids = [];

    /// <summary>Why this host cannot jail VMMs as <paramref name="settings"/> ask, in words for "the jail needs ...", or null.</summary>
    public static string? Missing(AgentSettings settings)
    {
        if (!Environment.IsPrivilegedProcess) return "ferryd to run as root (it makes mount namespaces, device nodes and cgroups)";
        if (!File.Exists(Helper)) return $"ferry-jail beside ferryd ({Helper}), which the build and ./ferry install put there";
        if (FindOnPath("setfacl") is null) return "setfacl (Debian's acl package) on PATH, to open a VM's disk images to its user";
        if (VmCgroup.Missing() is { } cgroup) return cgroup;
        if (!IsElf(settings.Ferry)) return $"ferry's NativeAOT binary, but {settings.Ferry} is not an ELF executable (give ferryd init --ferry the published binary)";
        return null;
    }

    public static void Check(AgentSettings settings)
    {
        if (Missing(settings) is { } missing) throw new AgentStartException($"the VMM jail needs {missing}; or set this host up with ferryd init --no-jail");
    }

    /// <summary>The VM's run directory as the host sees it: the jail's /run, which holds its control socket.</summary>
    public string RunDirectory(string name) => state.VmRunDirectory(name);

    /// <summary>
    /// Readies a jail for one VMM: its uid, run directory, console file and cgroups. Returns
    /// ferry-jail's arguments after its pid file and log: they build the jail and run
    /// <paramref name="ferryArguments"/> (with jail paths) in it.
    /// <paramref name="files"/> are (host path, jail path, mode) as ferry-jail takes them.
    /// </summary>
    /// <param name="tun">A /dev/net/tun in the jail even without taps yet: a standby receiver is given its VM's taps when claimed.</param>
    public IReadOnlyList<string> Prepare(string name, ulong memoryBytes, int cpus, IEnumerable<(string Host, string Jail, string Mode)> files,
        IReadOnlyList<string> taps, IReadOnlyList<string> ferryArguments, bool tun = false)
    {
        // The VMM opens its files as the VM's uid, through read-only binds that keep their modes.
        foreach (var (host, _, mode) in files)
            if (mode == "ro" && !File.GetUnixFileMode(host).HasFlag(UnixFileMode.OtherRead))
                throw new AgentException($"{host} is not readable by others, so a jailed VMM (its own uid) cannot read it: make it world-readable (chmod o+r) or set the host up with ferryd init --no-jail");
        Directory.CreateDirectory(state.JailMountPoint);
        string run = RunDirectory(name);
        Directory.CreateDirectory(run);
        File.SetUnixFileMode(run, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string console = state.ConsolePath(name);
        if (!File.Exists(console)) File.WriteAllBytes(console, []);

        VmCgroup.RemoveListed(state.CgroupListPath(name));
        var cgroup = VmCgroup.Create(CgroupLeaf(name), memoryBytes + settings.JailMemoryOverheadBytes, cpus);
        cgroup.Save(state.CgroupListPath(name));
        int uid = AllocateUid(name);
        // The VM's taps are its user's: without CAP_NET_ADMIN the VMM may attach only to those.
        foreach (string tap in taps) HostTaps.Ready(tap, uid, settings.GuestBridge);

        var binds = new List<(string, string, string)>
        {
            (settings.Ferry, Ferry, "ro"),
            (run, Run, "own"),
            (console, Console, "own"),
        };
        binds.AddRange(files);
        binds.AddRange(SystemPaths.Where(p => Path.Exists(p)).Select(p => (p, p, "sys")));

        var command = new List<string> { state.JailMountPoint, Number(uid), Number(uid), Number(taps.Count > 0 || tun ? 1 : 0), Number(cgroup.Directories.Count) };
        command.AddRange(cgroup.TasksFiles);
        command.Add(Number(binds.Count));
        foreach (var (host, jail, mode) in binds) command.AddRange([host, jail, mode]);
        command.Add(Ferry);
        command.AddRange(ferryArguments);
        return command;
    }

    /// <summary>
    /// A standby receiver's jail becomes <paramref name="name"/>'s: its uid is the VM's from now on,
    /// its cgroups (whose list was moved to the VM's directory) are renamed after the VM and get
    /// its limits, and the VM's taps are given to that uid.
    /// </summary>
    public void Claim(string standby, string name, ulong memoryBytes, int cpus, IReadOnlyList<string> taps)
    {
        int uid;
        lock (_lock)
        {
            if (!_uids.Remove(standby, out uid)) throw new AgentException($"the standby receiver {standby} has no uid of this agent's");
            _uids[name] = uid;
        }
        var cgroup = (VmCgroup.Load(state.CgroupListPath(name)) ?? throw new AgentException($"the standby receiver claimed for {name} has no cgroups"))
            .RenamedTo(CgroupLeaf(name));
        cgroup.Save(state.CgroupListPath(name));
        cgroup.Limit(memoryBytes + settings.JailMemoryOverheadBytes, cpus);
        foreach (string tap in taps) HostTaps.Ready(tap, uid, settings.GuestBridge);
    }

    /// <summary>Removes the empty cgroups of standby receivers (names starting <paramref name="standbyPrefix"/>) no list names, but <paramref name="keep"/>'s.</summary>
    public void RemoveUnlistedStandbyCgroups(string standbyPrefix, string? keep) =>
        VmCgroup.RemoveUnlisted(CgroupLeaf(standbyPrefix), keep is null ? null : CgroupLeaf(keep));

    /// <summary>Forgets the uid of a VMM that will not start again under this name (a standby receiver discarded).</summary>
    public void Release(string name)
    {
        lock (_lock) _uids.Remove(name);
    }

    /// <summary>
    /// The VM's uid: from a hash of this agent and the VM's name, so two agents on one host rarely
    /// start at the same place, then the next one no process on the host runs as and no other VM
    /// of this agent was given. gid = uid.
    /// </summary>
    private int AllocateUid(string name)
    {
        var running = RunningUids();
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{state.Root}\0{name}"));
        int start = (int)(BitConverter.ToUInt32(hash) % (uint)settings.JailUidCount);
        lock (_lock)
        {
            _uids.Remove(name);
            for (int i = 0; i < settings.JailUidCount; i++)
            {
                int uid = settings.JailUidStart + (start + i) % settings.JailUidCount;
                if (running.Contains(uid) || _uids.ContainsValue(uid)) continue;
                _uids[name] = uid;
                return uid;
            }
        }
        throw new AgentException($"every uid of the jail's range {settings.JailUidStart}-{settings.JailUidStart + settings.JailUidCount - 1} is in use");
    }

    /// <summary>
    /// The real uid of every process on the host, from the "Uid:" line of each /proc/PID/status.
    /// Read into one small buffer and parsed as bytes: every VMM start pays for this scan, once per
    /// process on the host.
    /// </summary>
    private static HashSet<int> RunningUids()
    {
        var uids = new HashSet<int>();
        Span<byte> buffer = stackalloc byte[1024]; // "Uid:" is the ninth line, a few hundred bytes in
        foreach (var process in new DirectoryInfo("/proc").EnumerateDirectories())
        {
            if (!char.IsAsciiDigit(process.Name[0])) continue;
            int length;
            try
            {
                using var status = File.OpenHandle(Path.Combine(process.FullName, "status"));
                length = RandomAccess.Read(status, buffer, 0);
            }
            catch (IOException) { continue; } // it ended
            catch (UnauthorizedAccessException) { continue; }
            var text = buffer[..length];
            int at = text.IndexOf("\nUid:\t"u8);
            if (at < 0) continue;
            text = text[(at + 6)..];
            int end = text.IndexOfAnyExcept("0123456789"u8);
            if (uint.TryParse(end < 0 ? text : text[..end], NumberStyles.None, CultureInfo.InvariantCulture, out uint uid) && uid <= int.MaxValue)
                uids.Add((int)uid);
        }
        return uids;
    }

    /// <summary>Unique per agent and VM on this host: "ferryd-" + a hash of the state directory + "-" + the name.</summary>
    private string CgroupLeaf(string name) => CgroupPrefix(state.Root) + name;

    /// <summary>"ferryd-" + a hash of the agent's state directory + "-": what every cgroup of that agent's VMMs is named with.</summary>
    public static string CgroupPrefix(string stateRoot) => $"ferryd-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stateRoot)))[..8]}-";

    private static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string? FindOnPath(string tool)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin").Append("/sbin"))
        {
            string path = Path.Combine(dir, tool);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    private static bool IsElf(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            return file.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual((ReadOnlySpan<byte>)[0x7f, (byte)'E', (byte)'L', (byte)'F']);
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
