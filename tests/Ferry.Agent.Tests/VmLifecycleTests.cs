using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;
using Grpc.Core;

namespace Ferry.Agent.Tests;

/// <summary>A VM as an agent keeps it: defined, started, seen, stopped, deleted; and kept across an agent's death.</summary>
[Collection(AgentCollection.Name)]
public sealed class VmLifecycleTests : IDisposable
{
    private readonly TestCluster _cluster = new(hosts: 1);

    public void Dispose() => _cluster.Dispose();

    private string[] Create(string name, string program = "memtouch", string args = "--mb 8 --rate 100") =>
        ["--host", "h1", "vm", "create", name, "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "256M", "--cpus", "1",
         "--cmdline", TestCluster.GuestCmdline(program, args)];

    private string Console(string name) => _cluster.Ferry("--host", "h1", "vm", "console", name).Stdout;

    private string WaitForConsole(string name, string text, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            string console = Console(name);
            if (console.Contains(text, StringComparison.Ordinal)) return console;
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"the console of {name} never showed \"{text}\":\n{console}");
            Thread.Sleep(500);
        }
    }

    [KvmFact]
    public void A_vm_is_created_started_listed_stopped_and_deleted_through_the_cli()
    {
        var created = _cluster.Ferry(Create("web"));
        Assert.True(created.Code == 0, created.Stderr);
        Assert.StartsWith("web: defined", created.Stdout);

        var started = _cluster.Ferry("--host", "h1", "vm", "start", "web");
        Assert.True(started.Code == 0, started.Stderr);
        Assert.StartsWith("web: running", started.Stdout);
        WaitForConsole("web", "memtouch ready");

        var list = _cluster.Ferry("--host", "h1", "vm", "list");
        Assert.Matches(@"(?m)^web\s+running\s+1\s+256\.0 MiB\s+\d+", list.Stdout);

        // The host's load, as a controller reads it: from the survey, at most a second or two behind.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string host;
        while (!(host = _cluster.Ferry("--host", "h1", "host", "show").Stdout).Contains("web: ", StringComparison.Ordinal) && DateTime.UtcNow < deadline) Thread.Sleep(250);
        Assert.Contains("1 VMs running: 1 vCPUs, 256.0 MiB of guest RAM", host);
        Assert.Matches(@"(?m)^\s+web: \d+\.\d\d cores$", host);

        var refused = _cluster.Ferry("--host", "h1", "vm", "delete", "web");
        Assert.Equal(2, refused.Code);
        Assert.Equal("ferry: web is running: stop it first", refused.Stderr.Trim());

        var stopped = _cluster.Ferry("--host", "h1", "vm", "stop", "web");
        Assert.True(stopped.Code == 0, stopped.Stderr);
        Assert.StartsWith("web: stopped", stopped.Stdout);
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "delete", "web").Code);
        Assert.DoesNotContain("web", _cluster.Ferry("--host", "h1", "vm", "list").Stdout);
    }

    [KvmFact]
    public void A_vm_with_a_disk_writes_it_from_its_jail_and_a_second_vm_cannot_take_it()
    {
        string image = Path.Combine(_cluster.Root, "data.img");
        File.WriteAllBytes(image, new byte[8 << 20]);
        var created = _cluster.Ferry([.. Create("data", "blkverify", "--blocks 512 --rate 200 --sync 10"), "--disk", $"{image},id=data-1"]);
        Assert.True(created.Code == 0, created.Stderr);
        Assert.Contains($"  disk data-1: {image}", created.Stdout);
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "start", "data").Code);
        string console = WaitForConsole("data", "blkverify ready dev=/dev/vda");
        WaitForConsole("data", "HB", 30);
        Assert.DoesNotContain("FAIL", Console("data"));
        // The jail opened the image to the VM's own user (root does not run this VMM) by an ACL
        // entry, and left its owner as it was.
        string acl = TestNetns.Run("getfacl", "-n", "-c", image);
        Assert.Matches(@"(?m)^user:1\d{9}:rw-$", acl);
        Assert.Matches("(?m)^user::rw-$", acl);

        // The image is locked by its VM: another VM defined on it does not start, and says why.
        Assert.Equal(0, _cluster.Ferry([.. Create("thief"), "--disk", image]).Code);
        var refused = _cluster.Ferry("--host", "h1", "vm", "start", "thief");
        Assert.NotEqual(0, refused.Code);
        Assert.Equal("ferry: the VMM of thief ended at start: ferry: disk /disk0 is in use by another VM", refused.Stderr.Trim());
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "stop", "data").Code);
        Assert.DoesNotContain("FAIL", console);
    }

    [Fact]
    public void Bad_devices_get_one_clear_line()
    {
        var relative = _cluster.Ferry([.. Create("a"), "--disk", "data.img"]);
        Assert.Equal(2, relative.Code);
        Assert.Equal("ferry: disk 0: 'data.img' is not an absolute path on this host", relative.Stderr.Trim());
        var missing = _cluster.Ferry([.. Create("a"), "--disk", "/nonexistent/data.img"]);
        Assert.Equal("ferry: disk 0: image /nonexistent/data.img does not exist on this host", missing.Stderr.Trim());
        var badOption = _cluster.Ferry([.. Create("a"), "--disk", "/x.img,fast"]);
        Assert.Equal(2, badOption.Code);
        Assert.StartsWith("ferry: --disk /x.img,fast: unknown option", badOption.Stderr.Trim());
        var badMac = _cluster.Ferry([.. Create("a"), "--net", "tap=t0,mac=01:00:00:00:00:01"]);
        Assert.Equal(2, badMac.Code);
        Assert.Contains("multicast", badMac.Stderr);
        Assert.Single(badMac.Stderr.Trim().Split('\n'));
        var badTap = _cluster.Ferry([.. Create("a"), "--net", "tap=a/b"]);
        Assert.Equal(2, badTap.Code);
        Assert.DoesNotContain("a", _cluster.Ferry("--host", "h1", "vm", "list").Stdout.Split('\n').Skip(1).Select(l => l.Split(' ')[0]));
    }

    [Fact]
    public void Bad_definitions_get_one_clear_line()
    {
        var missing = _cluster.Ferry("--host", "h1", "vm", "create", "a", "--kernel", "/nonexistent/kernel", "--memory", "64M");
        Assert.Equal(2, missing.Code);
        Assert.Equal("ferry: kernel /nonexistent/kernel does not exist on this host", missing.Stderr.Trim());

        var badName = _cluster.Ferry("--host", "h1", "vm", "create", "../x", "--kernel", TestGuest.Kernel);
        Assert.Equal(2, badName.Code);
        Assert.StartsWith("ferry: invalid VM name '../x'", badName.Stderr.Trim());

        var unknown = _cluster.Ferry("--host", "h1", "vm", "show", "nobody");
        Assert.Equal(2, unknown.Code);
        Assert.Equal("ferry: no VM named nobody on this host", unknown.Stderr.Trim());

        var noHost = _cluster.Ferry("--host", "h9", "vm", "list");
        Assert.Equal(2, noHost.Code);
        Assert.Equal($"ferry: unknown host h9: {_cluster.ConfigPath} names h1", noHost.Stderr.Trim());
    }

    [KvmFact]
    public async Task A_vm_outlives_its_agent_and_the_next_agent_finds_it()
    {
        Assert.Equal(0, _cluster.Ferry(Create("db")).Code);
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "start", "db").Code);
        WaitForConsole("db", "memtouch ready");
        int pid = _cluster.VmmPid("h1", "db");

        _cluster.KillAgent("h1");
        Assert.True(ProcessAlive(pid), "the VMM died with its agent");
        _cluster.Start("h1");

        using var agent = _cluster.Connect("h1");
        var vm = agent.Client.GetVm(new VmRef { Name = "db" });
        Assert.Equal("running", vm.State);
        Assert.Equal(pid, vm.Pid);
        int lines = Console("db").Split('\n').Length;
        WaitForConsole("db", "HB", 30);
        Assert.True(WaitForMoreLines("db", lines), "the guest stopped printing heartbeats after the agent restarted");

        // And it watches it: a VMM killed behind its back is reported as died, with an event.
        using var events = agent.Client.WatchEvents(new WatchEventsRequest());
        System.Diagnostics.Process.GetProcessById(pid).Kill();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Event? died = null;
        await foreach (var e in events.ResponseStream.ReadAllAsync(timeout.Token))
            if (e.Vm == "db" && e.Kind == "died") { died = e; break; }
        Assert.NotNull(died);
        Assert.Equal("died", agent.Client.GetVm(new VmRef { Name = "db" }).State);
    }

    private bool WaitForMoreLines(string name, int before)
    {
        for (int i = 0; i < 60; i++)
        {
            if (Console(name).Split('\n').Length > before) return true;
            Thread.Sleep(500);
        }
        return false;
    }

    private static bool ProcessAlive(int pid) => File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ");
}
