using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests.Vms;

/// <summary>
/// How an agent starts its VMMs (src/Ferry.Agent/Vms/VmmLauncher.cs, ferry-jail's detaching): each
/// detached in a session of its own, its pid recorded, its output in its log; and one that ends at
/// its start is reported in its own words, by `vm start` and by a migration to that host.
/// </summary>
[Collection(AgentCollection.Name)]
public sealed class VmmLauncherTests : IDisposable
{
    private TestCluster? _cluster;

    public void Dispose() => _cluster?.Dispose();

    [KvmTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_vmm_runs_detached_from_its_agent_with_its_pid_recorded_and_its_output_in_its_log(bool noJail)
    {
        var cluster = _cluster = noJail ? new TestCluster(hosts: 1, "--no-jail") : new TestCluster(hosts: 1);
        cluster.StartGuest("h1", "solo", "memtouch", "--mb 8 --rate 100", memory: "128M", cpus: 1);
        cluster.WaitForConsole("h1", "solo", "memtouch ready");

        // vmm.pid names the VMM itself (what its control socket says), not a launcher that went before it.
        int pid = cluster.VmmPid("h1", "solo");
        using (var h1 = cluster.Connect("h1")) Assert.Equal(pid, h1.Client.GetVm(new VmRef { Name = "solo" }).Pid);
        var vmm = new VmmProcess(pid);
        Assert.Contains("/ferry", File.ReadAllText($"/proc/{pid}/cmdline").Split('\0')[0]);
        // In a session of its own, no child of the agent (an agent that ends leaves it running).
        Assert.Equal(pid, vmm.SessionId);
        Assert.NotEqual(cluster.AgentPid("h1"), vmm.ParentPid);
        Assert.Equal("/dev/null", vmm.Fd(0));
        string log = Path.Combine(cluster.StateDir("h1"), "vms", "solo", "vmm.log");
        Assert.Equal(log, vmm.Fd(1));
        Assert.Equal(log, vmm.Fd(2));
        // Nothing of its start is left behind: the launcher is gone and reaped, so the agent has no child.
        Assert.Empty(ChildrenOf(cluster.AgentPid("h1")));
    }

    [KvmFact]
    public void A_vmm_that_ends_at_its_start_is_reported_in_its_own_words_by_vm_start_and_by_a_migration()
    {
        // h2's VMMs cannot start: its agent runs a "ferry" that says why and exits. (--no-jail, since a
        // jail takes only the NativeAOT ferry.)
        var cluster = _cluster = new TestCluster(hosts: 2, "--no-jail");
        string broken = Path.Combine(cluster.Root, "broken-ferry");
        File.WriteAllText(broken, "#!/bin/sh\necho 'ferry: this VMM cannot start (a test)' >&2\nexit 2\n");
        File.SetUnixFileMode(broken, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        cluster.KillAgent("h2");
        string settings = Path.Combine(cluster.StateDir("h2"), "agent.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(settings))!;
        json["ferry"] = broken;
        File.WriteAllText(settings, json.ToJsonString());
        cluster.Start("h2");

        var created = cluster.Ferry("--host", "h2", "vm", "create", "local", "--kernel", TestGuest.Kernel, "--memory", "64M");
        Assert.True(created.Code == 0, created.Stderr);
        var start = cluster.Ferry("--host", "h2", "vm", "start", "local");
        Assert.Equal(2, start.Code);
        Assert.Equal("ferry: the VMM of local ended at start: ferry: this VMM cannot start (a test)", start.Stderr.Trim());

        cluster.StartGuest("h1", "mover", "memtouch", "--mb 8 --rate 100", memory: "128M", cpus: 1);
        cluster.WaitForConsole("h1", "mover", "memtouch ready");
        int before = cluster.VmmPid("h1", "mover");
        var moved = cluster.Ferry("--host", "h1", "vm", "migrate", "mover", "--to", "h2");
        Assert.NotEqual(0, moved.Code);
        Assert.Equal("ferry: the destination agent: the VMM of mover ended at start: ferry: this VMM cannot start (a test)", moved.Stderr.Trim());
        using var h1 = cluster.Connect("h1");
        var vm = h1.Client.GetVm(new VmRef { Name = "mover" });
        Assert.Equal("running", vm.State);
        Assert.Equal(before, vm.Pid);
    }

    private static IEnumerable<int> ChildrenOf(int parent)
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            int ppid;
            try { ppid = new VmmProcess(pid).ParentPid; }
            catch (IOException) { continue; } // it ended
            if (ppid == parent) yield return pid;
        }
    }
}
