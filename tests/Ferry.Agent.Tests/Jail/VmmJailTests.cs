using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests.Jail;

/// <summary>
/// The jail ferryd starts each VMM in (src/Ferry.Agent/Jail): its own user, its own mount
/// namespace holding only its files, its seccomp filter, its cgroups; and a VMM that runs out of
/// memory is the only one to die.
/// </summary>
[Collection(AgentCollection.Name)]
public sealed class VmmJailTests : IDisposable
{
    private const long MiB = 1 << 20;
    private TestCluster? _cluster;

    public void Dispose() => _cluster?.Dispose();

    private TestCluster Cluster(params string[] initOptions) => _cluster = new TestCluster(hosts: 1, initOptions);

    private static void Start(TestCluster cluster, string name, string workload, string args)
    {
        var created = cluster.Ferry("--host", "h1", "vm", "create", name, "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd,
            "--memory", "128M", "--cpus", "1", "--cmdline", TestCluster.GuestCmdline(workload, args));
        Assert.True(created.Code == 0, created.Stderr);
        var started = cluster.Ferry("--host", "h1", "vm", "start", name);
        Assert.True(started.Code == 0, started.Stderr);
    }

    private static int WaitForConsole(TestCluster cluster, string name, string text, int from = 0, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            string console = cluster.Ferry("--host", "h1", "vm", "console", name).Stdout;
            int at = console.IndexOf(text, Math.Min(from, console.Length), StringComparison.Ordinal);
            if (at >= 0) return at + text.Length;
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"{name} never printed \"{text}\" after offset {from}:\n{console}");
            Thread.Sleep(300);
        }
    }

    [KvmFact]
    public void A_jailed_vmm_runs_its_guest_as_its_own_user_in_its_own_mount_namespace_and_cgroups()
    {
        var cluster = Cluster();
        Start(cluster, "jailed", "memtouch", "--mb 8 --rate 100");
        int after = WaitForConsole(cluster, "jailed", "memtouch ready");
        WaitForConsole(cluster, "jailed", "HB", from: after);

        var vmm = new VmmProcess(cluster.VmmPid("h1", "jailed"));
        Assert.InRange(vmm.Uid, AgentSettings.DefaultJailUidStart, AgentSettings.DefaultJailUidStart + AgentSettings.DefaultJailUidCount - 1);
        Assert.Equal(vmm.Uid, vmm.Gid);
        Assert.Equal("", vmm.Groups);
        Assert.All(vmm.Capabilities, set => Assert.Equal("0000000000000000", set));
        Assert.Equal("1", vmm.NoNewPrivs);
        Assert.Equal("2", vmm.Seccomp); // the agent starts it with --seccomp
        var agent = new VmmProcess(cluster.AgentPid("h1"));
        Assert.NotEqual(agent.MountNamespace, vmm.MountNamespace);

        // Its cgroups hold the VM's limits, below the agent's own groups.
        string memory = vmm.Cgroup("memory"), cpu = vmm.Cgroup("cpu");
        Assert.EndsWith("-jailed", memory);
        Assert.StartsWith(agent.Cgroup("memory").TrimEnd('/') + "/ferryd-", memory);
        Assert.Equal((128 * MiB + (long)AgentSettings.DefaultJailMemoryOverheadBytes).ToString(), File.ReadAllText(Path.Combine(memory, "memory.limit_in_bytes")).Trim());
        Assert.Equal("100000", File.ReadAllText(Path.Combine(cpu, "cpu.cfs_quota_us")).Trim());
        Assert.Equal("100000", File.ReadAllText(Path.Combine(cpu, "cpu.cfs_period_us")).Trim());

        // Stopped, its groups are gone (once its process is reaped: the survey removes what the stop could not).
        Assert.Equal(0, cluster.Ferry("--host", "h1", "vm", "stop", "jailed").Code);
        for (int i = 0; i < 50 && (Directory.Exists(memory) || Directory.Exists(cpu)); i++) Thread.Sleep(100);
        Assert.False(Directory.Exists(memory), $"{memory} is left after the VM stopped");
        Assert.False(Directory.Exists(cpu), $"{cpu} is left after the VM stopped");
    }

    [KvmFact]
    public void A_jailed_vmm_sees_only_its_own_files()
    {
        var cluster = Cluster();
        Start(cluster, "inside", "memtouch", "--mb 8 --rate 100");
        Start(cluster, "neighbour", "memtouch", "--mb 8 --rate 100");
        WaitForConsole(cluster, "inside", "memtouch ready");
        var vmm = new VmmProcess(cluster.VmmPid("h1", "inside"));

        // Its whole root: its executable, kernel, initrd, console, /run (its socket), its own
        // /dev/kvm and /dev/userfaultfd (and urandom, null), a /proc of its own and the read-only system libraries.
        Assert.Equal([".old", "console.log", "dev", "etc", "ferry", "initrd", "kernel", "lib", "lib64", "proc", "run", "usr"],
            Directory.EnumerateFileSystemEntries(vmm.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(File.Exists("/dev/userfaultfd") ? ["kvm", "null", "urandom", "userfaultfd"] : ["kvm", "null", "urandom"],
            Directory.EnumerateFileSystemEntries(Path.Combine(vmm.Root, "dev")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["ld.so.cache"], Directory.EnumerateFileSystemEntries(Path.Combine(vmm.Root, "etc")).Select(Path.GetFileName));
        Assert.Equal(["api.sock"], Directory.EnumerateFileSystemEntries(Path.Combine(vmm.Root, "run")).Select(Path.GetFileName));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(vmm.Root, ".old")));

        // Probed from inside, as the VMM's user: its own control socket answers; the neighbour's
        // (a path on the host), the agent's records and the host's files are not there.
        var own = vmm.RunInside("status", "--api-socket", "/run/api.sock");
        Assert.True(own.Code == 0, own.Output);
        Assert.StartsWith("inside: running", own.Output);
        string neighbourSocket = Path.Combine(cluster.StateDir("h1"), "run", "neighbour", "api.sock");
        Assert.True(File.Exists(neighbourSocket));
        var neighbour = vmm.RunInside("status", "--api-socket", neighbourSocket);
        Assert.Equal($"ferry: no VM has the API socket {neighbourSocket} (see `ferry list`)", neighbour.Output);
        foreach (string hostFile in (string[])["/etc/shadow", Path.Combine(cluster.StateDir("h1"), "vms", "inside", "vm.json"), TestGuest.Kernel])
        {
            Assert.True(File.Exists(hostFile), hostFile);
            var probe = vmm.RunInside("run", "--kernel", hostFile, "--memory", "16M");
            Assert.Equal($"ferry: kernel {hostFile}: no such file", probe.Output);
        }
        // Its mounts: a read-only tmpfs as /, nothing of the host's root; /proc shows it only its own processes.
        var mounts = File.ReadAllLines($"/proc/{vmm.Pid}/mountinfo").Select(l => l.Split(' ')).ToDictionary(f => f[4], f => f);
        Assert.Equal("tmpfs", mounts["/"][^3]);
        Assert.StartsWith("ro,", mounts["/"][5]);
        Assert.Contains("hidepid=invisible", mounts["/proc"][^1]);
        Assert.DoesNotContain(mounts.Keys, m => m.StartsWith("/.old", StringComparison.Ordinal) || m.StartsWith("/tmp", StringComparison.Ordinal) || m.StartsWith("/sys", StringComparison.Ordinal));
    }

    [KvmFact]
    public void A_vmm_over_its_memory_limit_dies_alone_and_is_reported_died()
    {
        // No overhead: the limit is the guest's 128 MiB, so the VMM's own memory, the initrd and a
        // guest that touches 120 MiB cannot all fit; a guest touching 8 MiB fits with room to spare.
        var cluster = Cluster("--jail-memory-overhead-mib", "0");
        Start(cluster, "calm", "memtouch", "--mb 8 --rate 100");
        WaitForConsole(cluster, "calm", "memtouch ready");
        int calmPid = cluster.VmmPid("h1", "calm");

        using var agent = cluster.Connect("h1");
        Start(cluster, "hog", "memtouch", "--mb 120 --rate max");
        int hogPid = cluster.VmmPid("h1", "hog");
        string hogMemory = new VmmProcess(hogPid).Cgroup("memory");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        Vm hog;
        while ((hog = agent.Client.GetVm(new VmRef { Name = "hog" })).State != "died")
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"hog is still {hog.State} after 60 s");
            Thread.Sleep(200);
        }
        Assert.Contains("OOM killer", hog.Detail);
        Assert.Contains("128 MiB", hog.Detail);

        // The other VM runs on, in the same VMM, and its guest goes on counting.
        Assert.Equal("running", agent.Client.GetVm(new VmRef { Name = "calm" }).State);
        Assert.Equal(calmPid, agent.Client.GetVm(new VmRef { Name = "calm" }).Pid);
        string console = cluster.Ferry("--host", "h1", "vm", "console", "calm").Stdout;
        WaitForConsole(cluster, "calm", "HB", from: console.Length);

        // The survey keeps why it died and removes its groups.
        for (int i = 0; i < 50 && Directory.Exists(hogMemory); i++) Thread.Sleep(100);
        Assert.False(Directory.Exists(hogMemory), $"{hogMemory} is left after its VMM died");
        Assert.Contains("OOM killer", agent.Client.GetVm(new VmRef { Name = "hog" }).Detail);
    }

    [KvmFact]
    public void A_kernel_the_jailed_user_cannot_read_is_refused_in_one_line()
    {
        var cluster = Cluster();
        string kernel = Path.Combine(cluster.Root, "private-kernel");
        File.Copy(TestGuest.Kernel, kernel);
        File.SetUnixFileMode(kernel, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(0, cluster.Ferry("--host", "h1", "vm", "create", "secret", "--kernel", kernel, "--memory", "64M").Code);
        var refused = cluster.Ferry("--host", "h1", "vm", "start", "secret");
        Assert.Equal(2, refused.Code);
        Assert.Equal($"ferry: {kernel} is not readable by others, so a jailed VMM (its own uid) cannot read it: make it world-readable (chmod o+r) " +
                     "or set the host up with ferryd init --no-jail", refused.Stderr.Trim());
    }

    [KvmFact]
    public void An_agent_set_up_with_no_jail_runs_its_vmms_as_itself()
    {
        var cluster = Cluster("--no-jail");
        Start(cluster, "free", "memtouch", "--mb 8 --rate 100");
        WaitForConsole(cluster, "free", "memtouch ready");
        var vmm = new VmmProcess(cluster.VmmPid("h1", "free"));
        var agent = new VmmProcess(cluster.AgentPid("h1"));
        Assert.Equal(agent.Uid, vmm.Uid);
        Assert.Equal(agent.MountNamespace, vmm.MountNamespace);
        Assert.Equal(agent.Cgroup("memory"), vmm.Cgroup("memory"));
        Assert.Equal("2", vmm.Seccomp);
    }
}
