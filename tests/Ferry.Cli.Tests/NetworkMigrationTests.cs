using System.Diagnostics;
using System.Text.Json;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// virtio-net across live migrations: netserve in the guest behind tap A, a TCP client streaming
/// its counter the whole time, migrated to tap B on the same bridge (pre-copy) and back (post-copy).
/// Everything lives in a network namespace this test makes and removes.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class NetworkMigrationTests : IDisposable
{
    private readonly string _ns = $"fnet{Environment.ProcessId % 100000}";
    private readonly List<Process> _processes = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-net-").FullName;

    public NetworkMigrationTests()
    {
        Sh($"ip netns add {_ns}");
        Sh($"ip -n {_ns} link set lo up");
        Sh($"ip -n {_ns} link add br0 type bridge");
        Sh($"ip -n {_ns} addr add 10.90.0.1/24 dev br0");
        Sh($"ip -n {_ns} link set br0 up");
        foreach (string tap in new[] { "tapa", "tapb" })
        {
            Sh($"ip -n {_ns} tuntap add {tap} mode tap");
            Sh($"ip -n {_ns} link set {tap} master br0 up");
        }
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try { if (!p.HasExited) p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        Run("ip", "netns", "del", _ns);
        Directory.Delete(_dir, recursive: true);
    }

    private static string Ferry => Environment.GetEnvironmentVariable("FERRY_BIN") is { Length: > 0 } bin ? bin
        : throw new Xunit.Sdk.XunitException("FERRY_BIN (the ferry binary ./test.sh builds) is needed to run ferry inside a namespace");

    private Process InNamespace(params string[] command)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["netns", "exec", _ns, .. command]) start.ArgumentList.Add(a);
        var p = Process.Start(start)!;
        _processes.Add(p);
        return p;
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    private static void Sh(string command)
    {
        var (code, output) = Run("sh", "-c", command);
        Assert.True(code == 0, $"{command}: {output}");
    }

    private string Console(string name) => Path.Combine(_dir, $"{name}.console");

    private void WaitForConsole(string name, string text, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!(File.Exists(Console(name)) && File.ReadAllText(Console(name)).Contains(text, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"{name} never printed {text}");
            Thread.Sleep(100);
        }
    }

    private Process Receiver(string name, string tap, int port)
    {
        var p = InNamespace(Ferry, "receive", "--listen", $"127.0.0.1:{port}", "--name", name, "--net", $"tap={tap}", "--console", Console(name),
            "--api-socket", Path.Combine(_dir, $"{name}.sock"));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(Path.Combine(_dir, $"{name}.sock")))
        {
            if (p.HasExited || DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"ferry receive did not start: {p.StandardError.ReadToEnd()}");
            Thread.Sleep(50);
        }
        return p;
    }

    private (int Code, string Output) Migrate(string from, int port, string mode) =>
        Run("ip", "netns", "exec", _ns, Ferry, "migrate", "--api-socket", Path.Combine(_dir, $"{from}.sock"), "--to", $"127.0.0.1:{port}", "--mode", mode);

    [KvmFact]
    public void A_tcp_stream_to_the_guest_survives_precopy_and_postcopy_between_two_taps_and_the_bridge_learns_each_move()
    {
        InNamespace(Ferry, "run", "--name", "net0", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "256M", "--cpus", "2",
            "--net", "tap=tapa", "--console", Console("net0"), "--api-socket", Path.Combine(_dir, "net0.sock"),
            "--cmdline", TestGuest.Run("netserve", "--ip 10.90.0.2/24", powerOff: false));
        WaitForConsole("net0", "HB");
        string probe = Path.Combine(TestGuest.RepositoryRoot, "bench", "netprobe.py");
        var stream = InNamespace("python3", probe, "stream", "10.90.0.2", "--seconds", "14");
        Thread.Sleep(2000);

        int first = Heartbeats.FreePort();
        Receiver("net1", "tapb", first);
        var pre = Migrate("net0", first, "precopy");
        Assert.True(pre.Code == 0, pre.Output);
        string mac = File.ReadAllText(Console("net0")).Length >= 0 ? GuestMac() : "";
        Assert.Contains($"{mac} dev tapb", Run("ip", "netns", "exec", _ns, "bridge", "fdb", "show", "br", "br0").Output);

        Thread.Sleep(2000);
        int second = Heartbeats.FreePort();
        Receiver("net2", "tapa", second);
        var post = Migrate("net1", second, "postcopy");
        Assert.True(post.Code == 0, post.Output);
        Assert.Contains($"{mac} dev tapa", Run("ip", "netns", "exec", _ns, "bridge", "fdb", "show", "br", "br0").Output);

        Assert.True(stream.WaitForExit(TimeSpan.FromSeconds(60)), "the stream client did not finish");
        var result = JsonDocument.Parse(stream.StandardOutput.ReadToEnd().Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(0, result.GetProperty("lost").GetInt64());
        Assert.Equal(0, result.GetProperty("reordered").GetInt64());
        Assert.False(result.GetProperty("closed_early").GetBoolean());
        Assert.True(result.GetProperty("counters").GetInt64() > 0);
        Assert.Equal(0, stream.ExitCode);

        // GET /vm counts the card's frames since this VMM started it: the stream went out through it.
        var status = Run("ip", "netns", "exec", _ns, Ferry, "status", "--api-socket", Path.Combine(_dir, "net2.sock"), "--json");
        Assert.True(status.Code == 0, status.Output);
        var card = JsonDocument.Parse(status.Output.Trim()).RootElement.GetProperty("nets")[0];
        Assert.Equal("tapa", card.GetProperty("tap").GetString());
        Assert.Equal(mac, card.GetProperty("mac").GetString());
        Assert.True(card.GetProperty("transmitted_frames").GetInt64() > 100, card.ToString());
        Assert.True(card.GetProperty("received_frames").GetInt64() > 0, card.ToString());

        // A restored VM announces itself as a migrated one does: snapshot it on tap A, restore it
        // on tap B, and the bridge learns tap B while the guest itself sends nothing.
        string snapshot = Path.Combine(_dir, "net.snap");
        var taken = Run("ip", "netns", "exec", _ns, Ferry, "snapshot", "--api-socket", Path.Combine(_dir, "net2.sock"), "--out", snapshot);
        Assert.True(taken.Code == 0, taken.Output);
        Run("ip", "netns", "exec", _ns, Ferry, "stop", "--api-socket", Path.Combine(_dir, "net2.sock"));
        InNamespace(Ferry, "restore", snapshot, "--name", "net3", "--net", "tap=tapb", "--console", Console("net3"),
            "--api-socket", Path.Combine(_dir, "net3.sock"));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Run("ip", "netns", "exec", _ns, "bridge", "fdb", "show", "br", "br0").Output.Contains($"{mac} dev tapb", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"the bridge never learnt {mac} on tapb after the restore");
            Thread.Sleep(100);
        }
    }

    /// <summary>The guest's MAC as the bridge learnt it from tap A before the first move (the VM was given none, so Ferry made one).</summary>
    private string GuestMac()
    {
        var fdb = Run("ip", "netns", "exec", _ns, "bridge", "fdb", "show", "br", "br0").Output;
        var line = fdb.Split('\n').FirstOrDefault(l => l.StartsWith("02:", StringComparison.Ordinal) && !l.Contains("permanent"))
                   ?? throw new Xunit.Sdk.XunitException($"the bridge never learnt the guest's MAC:\n{fdb}");
        return line.Split(' ')[0];
    }
}
