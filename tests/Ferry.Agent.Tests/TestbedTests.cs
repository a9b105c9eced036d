using System.Diagnostics;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests;

/// <summary>
/// testbed/: two hosts as network namespaces on a shaped 1 Gbit/s link, each with its own agent;
/// VMs moved between them by name, one serving a network client all the while; everything
/// removed afterwards. Its own prefix, directory
/// and subnets, so a user's test bed may be up beside it.
/// </summary>
[Collection(AgentCollection.Name)]
public sealed class TestbedTests : IDisposable
{
    private const string Prefix = "fbtest";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"fbtest-{Environment.ProcessId}");
    private readonly bool _root = Environment.UserName == "root";

    /// <summary>A command that finds this test's bed (its prefix, directory, subnets and client configuration).</summary>
    private ProcessStartInfo InBed(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["FERRYBED_PREFIX"] = Prefix;
        start.Environment["FERRYBED_DIR"] = _dir;
        start.Environment["FERRYBED_MGMT"] = "10.79.0";
        start.Environment["FERRYBED_GUEST"] = "10.80.0";
        start.Environment["FERRY_CONFIG"] = Path.Combine(_dir, "config.json");
        return start;
    }

    private (int Code, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        using var p = Process.Start(InBed(file, args))!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    /// <summary>bench/netprobe.py in the test bed's client namespace.</summary>
    private Process StartClient(params string[] args) =>
        Process.Start(InBed(Script("exec"), ["client", "python3", Path.Combine(TestGuest.RepositoryRoot, "bench", "netprobe.py"), .. args]))!;

    private string Script(string name) => Path.Combine(TestGuest.RepositoryRoot, "testbed", name);

    private static string[] Namespaces() =>
        File.Exists("/usr/sbin/ip") ? Process.Start(new ProcessStartInfo("ip", "netns list") { RedirectStandardOutput = true })!.StandardOutput.ReadToEnd()
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).Where(n => n.StartsWith($"{Prefix}-", StringComparison.Ordinal)).ToArray() : [];

    public void Dispose() { if (_root) Run(Script("down")); }

    [KvmFact]
    public void Two_hosts_come_up_move_a_vm_between_them_and_go_away_without_a_trace()
    {
        Assert.True(_root, "the test bed needs root (network namespaces); this suite runs as root");
        var up = Run(Script("up"), "--hosts", "2", "--link", "1gbit");
        Assert.True(up.Code == 0, up.Stderr);
        Assert.Equal($"export FERRY_CONFIG={_dir}/config.json", up.Stdout.Trim());
        Assert.Equal([$"{Prefix}-client", $"{Prefix}-h1", $"{Prefix}-h2", $"{Prefix}-net"], Namespaces().Order(StringComparer.Ordinal));
        // Each host has its own address, and reaches the other over the shaped link.
        var address = Run(Script("exec"), "h2", "ip", "-4", "-o", "addr", "show", "eth0");
        Assert.Contains("10.79.0.2/24", address.Stdout);
        var qdisc = Run(Script("exec"), "h1", "tc", "qdisc", "show", "dev", "eth0");
        Assert.Contains("tbf", qdisc.Stdout);
        Assert.Contains("rate 1Gbit", qdisc.Stdout);

        string ferry = Environment.GetEnvironmentVariable("FERRY_BIN") is { Length: > 0 } bin ? bin
            : throw new Xunit.Sdk.XunitException("FERRY_BIN (the ferry binary ./test.sh builds) is needed by the test bed");
        var created = Run(ferry, "--host", "h1", "vm", "create", "bed", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "256M",
            "--cpus", "1", "--cmdline", TestCluster.GuestCmdline("memverify", "--mb 32 --mode rewrite"));
        Assert.True(created.Code == 0, created.Stderr);
        Assert.Equal(0, Run(ferry, "--host", "h1", "vm", "start", "bed").Code);
        // memverify rewrites its 32 MiB as fast as a core lets it, which a 1 Gbit/s link may not
        // outrun within 50 ms: this test is about the hosts, so the last copy may take longer.
        var moved = Run(ferry, "--host", "h1", "vm", "migrate", "bed", "--to", "h2", "--verify-memory", "--on-no-converge", "force");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        var there = Run(ferry, "--host", "h2", "vm", "list");
        Assert.Matches(@"(?m)^bed\s+running", there.Stdout);

        // A guest with a disk and a network card serves a client in the client namespace all the
        // while it moves: its tap is made on h1's and then h2's guest bridge by their agents, the
        // shared image changes hands, and the client's stream loses nothing.
        string image = Path.Combine(_dir, "web.img");
        File.WriteAllBytes(image, new byte[16 << 20]);
        var web = Run(ferry, "--host", "h1", "vm", "create", "web", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "128M",
            "--disk", image, "--net", "tap=vweb", "--cmdline", TestCluster.GuestCmdline("netserve", "--ip 10.80.0.10/24 --hb-ms 500"));
        Assert.True(web.Code == 0, web.Stderr);
        Assert.Equal(0, Run(ferry, "--host", "h1", "vm", "start", "web").Code);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!Run(ferry, "--host", "h1", "vm", "console", "web").Stdout.Contains("netserve ready", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "netserve did not become ready on h1");
            Thread.Sleep(250);
        }
        Assert.Contains("master br0", Run(Script("exec"), "h1", "ip", "link", "show", "vweb").Stdout);
        // Every mode, back and forth, under one stream.
        var client = StartClient("stream", "10.80.0.10", "--seconds", "14");
        Thread.Sleep(2000);
        string at = "h1";
        foreach (string mode in (string[])["precopy", "postcopy", "hybrid", "cold"])
        {
            string to = at == "h1" ? "h2" : "h1";
            var webMoved = Run(ferry, "--host", at, "vm", "migrate", "web", "--to", to, "--mode", mode);
            Assert.True(webMoved.Code == 0, $"{mode} {at}→{to}: {webMoved.Stdout}\n{webMoved.Stderr}");
            Assert.Contains("master br0", Run(Script("exec"), to, "ip", "link", "show", "vweb").Stdout);
            at = to;
            Thread.Sleep(1000);
        }
        Assert.True(client.WaitForExit(60_000), "the client never finished");
        string probe = client.StandardOutput.ReadToEnd();
        Assert.True(client.ExitCode == 0, $"the client's stream broke: {probe}");
        Assert.Contains("\"lost\": 0,", probe);
        Assert.Contains("\"reordered\": 0,", probe);
        Assert.Matches(@"(?m)^web\s+running", Run(ferry, "--host", "h1", "vm", "list").Stdout);

        // A cut link refuses the next migration; the VM stays where it is.
        Assert.Equal(0, Run(Script("fault"), "cut", "h1").Code);
        var refused = Run(ferry, "--host", "h2", "vm", "migrate", "bed", "--to", "h1");
        Assert.NotEqual(0, refused.Code);
        Assert.Matches(@"(?m)^bed\s+running", Run(ferry, "--host", "h2", "vm", "list").Stdout);

        var down = Run(Script("down"));
        Assert.True(down.Code == 0, down.Stderr);
        Assert.Empty(Namespaces());
        Assert.False(Directory.Exists(_dir));
        Assert.NotEqual(0, Run("ip", "link", "show", $"{Prefix}-root").Code);
    }

    [Fact]
    public void Bad_options_and_a_missing_netem_get_one_line()
    {
        var hosts = Run(Script("up"), "--hosts", "0");
        Assert.Equal(1, hosts.Code);
        Assert.Equal("testbed: --hosts takes 1 to 20", hosts.Stderr.Trim());
        var rate = Run(Script("up"), "--link", "fast");
        Assert.Equal("testbed: --link takes a rate such as 1gbit, 10gbit or 500mbit", rate.Stderr.Trim());
        var exec = Run(Script("exec"), "h1", "true");
        Assert.Equal("testbed: no test bed is up (testbed/up first)", exec.Stderr.Trim());
    }
}
