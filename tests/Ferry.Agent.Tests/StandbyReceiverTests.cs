using System.Diagnostics;
using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests;

/// <summary>
/// The standby receiver (src/Ferry.Agent/Vms/VmmLauncher.Standby.cs): each agent keeps a jailed
/// `ferry receive --standby` started, a migration into its host claims it, it becomes that VM's
/// VMM in every respect (name, uid, cgroups and their limits, files), and a standby that died, or
/// that an agent killed mid-way left, is never claimed and never left behind.
/// </summary>
[Collection(AgentCollection.Name)]
public sealed class StandbyReceiverTests : IDisposable
{
    private readonly TestCluster _cluster = new(hosts: 2);

    public void Dispose() => _cluster.Dispose();

    /// <summary>The host's standby receiver, once one is up: its directory name and pid.</summary>
    private (string Name, int Pid) WaitForStandby(string host, int notPid = 0) => WaitForStandby(_cluster, host, notPid);

    private static (string Name, int Pid) WaitForStandby(TestCluster cluster, string host, int notPid = 0)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string vms = Path.Combine(cluster.StateDir(host), "vms");
        while (DateTime.UtcNow < deadline)
        {
            foreach (string dir in Directory.Exists(vms) ? Directory.GetDirectories(vms, ".standby-*") : [])
            {
                string name = Path.GetFileName(dir);
                string log = Path.Combine(dir, "vmm.log"), pidFile = Path.Combine(dir, "vmm.pid");
                if (!File.Exists(log) || !File.ReadAllText(log).Contains("standing by for a receive") || !File.Exists(pidFile)) continue;
                int pid = int.Parse(File.ReadAllText(pidFile).Trim());
                if (pid != notPid && Directory.Exists($"/proc/{pid}")) return (name, pid);
            }
            Thread.Sleep(100);
        }
        throw new Xunit.Sdk.XunitException($"{host} started no standby receiver within 60 s");
    }

    [KvmFact]
    public void A_migration_claims_the_destinations_standby_which_becomes_the_vms_jailed_vmm()
    {
        _cluster.StartGuest("h1", "app", "memverify", "--mb 64 --mode rewrite");
        _cluster.WaitForConsole("h1", "app", "memverify OK");
        var standby = WaitForStandby("h2");
        var waiting = new VmmProcess(standby.Pid);
        int uid = waiting.Uid;
        Assert.NotEqual(0, uid);
        Assert.Contains(".standby-", waiting.Cgroup("memory"));

        var moved = _cluster.Ferry("--host", "h1", "vm", "migrate", "app", "--to", "h2", "--mode", "precopy", "--verify-memory");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        Assert.Contains("of it claiming the destination's standby receiver", moved.Stderr);

        int after = _cluster.WaitForConsole("h2", "app", "memverify OK");
        _cluster.WaitForConsole("h2", "app", "memverify OK", from: after);
        using var h2 = _cluster.Connect("h2");
        var there = h2.Client.GetVm(new VmRef { Name = "app" });
        Assert.Equal("running", there.State);
        Assert.Equal(standby.Pid, there.Pid);
        Assert.Equal(standby.Pid, _cluster.VmmPid("h2", "app"));
        // The VM's own now: the same jail and uid, its cgroups named after it with its limits.
        var vmm = new VmmProcess(there.Pid);
        Assert.Equal(uid, vmm.Uid);
        Assert.Equal("2", vmm.Seccomp);
        string memory = vmm.Cgroup("memory");
        Assert.EndsWith("-app", memory);
        ulong limit = ulong.Parse(File.ReadAllText(Path.Combine(memory, "memory.limit_in_bytes")).Trim());
        Assert.Equal((256UL << 20) + (128UL << 20), limit);
        Assert.Contains("memverify", _cluster.Console("h2", "app"));
        Assert.False(Directory.Exists(Path.Combine(_cluster.StateDir("h2"), "vms", standby.Name)), "the claimed standby's directory is left");

        // Another takes its place once no migration runs, and the VM stops as any other.
        var next = WaitForStandby("h2", notPid: standby.Pid);
        Assert.NotEqual(standby.Name, next.Name);
        Assert.Equal(0, _cluster.Ferry("--host", "h2", "vm", "stop", "app").Code);
    }

    [KvmFact]
    public void A_standby_that_died_is_not_claimed_and_the_migration_starts_a_receiver_instead()
    {
        _cluster.StartGuest("h1", "late", "memverify", "--mb 32 --mode rewrite");
        _cluster.WaitForConsole("h1", "late", "memverify OK");
        var standby = WaitForStandby("h2");
        Process.GetProcessById(standby.Pid).Kill();
        for (int i = 0; i < 100 && Directory.Exists($"/proc/{standby.Pid}"); i++) Thread.Sleep(20);

        var moved = _cluster.Ferry("--host", "h1", "vm", "migrate", "late", "--to", "h2", "--mode", "precopy", "--verify-memory");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        using var h2 = _cluster.Connect("h2");
        var there = h2.Client.GetVm(new VmRef { Name = "late" });
        Assert.Equal("running", there.State);
        Assert.NotEqual(standby.Pid, there.Pid);
        _cluster.WaitForConsole("h2", "late", "memverify OK");
    }

    [KvmFact]
    public void An_agent_killed_and_restarted_ends_the_standby_it_left_and_starts_another()
    {
        var left = WaitForStandby("h2");
        string cgroup = new VmmProcess(left.Pid).Cgroup("memory");
        _cluster.KillAgent("h2");
        Assert.True(Directory.Exists($"/proc/{left.Pid}"), "the standby ended with its agent: it is detached like any VMM");
        // As an agent killed after making a standby's cgroup, before listing it, leaves it: empty, named by no list.
        string unlisted = Path.Combine(Path.GetDirectoryName(cgroup)!, _cluster.CgroupPrefix("h2") + ".standby-0badf00d");
        Directory.CreateDirectory(unlisted);

        _cluster.Start("h2");
        var next = WaitForStandby("h2", notPid: left.Pid);
        Assert.NotEqual(left.Name, next.Name);
        Assert.False(Directory.Exists($"/proc/{left.Pid}") && !File.ReadAllText($"/proc/{left.Pid}/stat").Contains(") Z "),
            "the standby the killed agent left still runs");
        Assert.False(Directory.Exists(Path.Combine(_cluster.StateDir("h2"), "vms", left.Name)), "its directory is left");
        Assert.False(Directory.Exists(Path.Combine(_cluster.StateDir("h2"), "run", left.Name)), "its run directory is left");
        Assert.False(Directory.Exists(cgroup), $"its cgroup {cgroup} is left");
        Assert.False(Directory.Exists(unlisted), $"the unlisted standby cgroup {unlisted} is left");
    }

    [KvmFact]
    public void On_hosts_without_the_jail_the_standby_is_claimed_and_its_socket_follows_its_directory()
    {
        using var cluster = new TestCluster(2, "--no-jail");
        cluster.StartGuest("h1", "loose", "memverify", "--mb 32 --mode rewrite");
        cluster.WaitForConsole("h1", "loose", "memverify OK");
        var standby = WaitForStandby(cluster, "h2");
        var moved = cluster.Ferry("--host", "h1", "vm", "migrate", "loose", "--to", "h2", "--mode", "postcopy");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        Assert.Contains("of it claiming the destination's standby receiver", moved.Stderr);
        cluster.WaitForConsole("h2", "loose", "memverify OK");
        using var h2 = cluster.Connect("h2");
        var there = h2.Client.GetVm(new VmRef { Name = "loose" });
        Assert.Equal("running", there.State);
        Assert.Equal(standby.Pid, there.Pid);
        // Its control socket is the VM's (run/NAME/api.sock), and goes when the VM stops.
        string socket = Path.Combine(cluster.StateDir("h2"), "run", "loose", "api.sock");
        Assert.True(File.Exists(socket));
        Assert.Equal(0, cluster.Ferry("--host", "h2", "vm", "stop", "loose").Code);
        for (int i = 0; i < 100 && File.Exists(socket); i++) Thread.Sleep(50);
        Assert.False(File.Exists(socket), "the claimed standby left its socket at the VM's path");
    }

    [KvmFact]
    public void A_host_set_up_without_a_standby_starts_a_receiver_for_each_migration()
    {
        using var cluster = new TestCluster(2, "--no-standby-receiver");
        cluster.StartGuest("h1", "plain", "memverify", "--mb 32 --mode rewrite");
        cluster.WaitForConsole("h1", "plain", "memverify OK");
        string vms = Path.Combine(cluster.StateDir("h2"), "vms");
        Assert.True(!Directory.Exists(vms) || Directory.GetDirectories(vms, ".standby-*").Length == 0, "a host set up without a standby started one");
        var moved = cluster.Ferry("--host", "h1", "vm", "migrate", "plain", "--to", "h2", "--mode", "precopy", "--verify-memory");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        Assert.Contains("of it starting the receiving VMM at the destination", moved.Stderr);
        cluster.WaitForConsole("h2", "plain", "memverify OK");
    }
}
