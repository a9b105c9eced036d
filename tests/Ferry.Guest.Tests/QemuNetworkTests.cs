using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ferry.Tests.Shared;

namespace Ferry.Guest.Tests;

/// <summary>
/// The test guest's virtio-net driver, /dev/net0 and the lwIP netserve workload, under QEMU's
/// virtio-net-device (microvm, virtio-mmio version 2) on a tap inside a network namespace of its
/// own: ARP and ICMP echo, UDP echo, TCP echo and the TCP counter stream without loss, checked by
/// bench/netprobe.py from the tap's side. Traffic never leaves the namespace, which is removed
/// (with the tap) afterwards.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class QemuNetworkTests
{
    private const string Tap = "fnet0";
    private const string HostAddress = "10.97.0.1";
    private const string GuestAddress = "10.97.0.2";
    private const string GuestMac = "52:54:00:12:34:50"; // test-qemu.sh's first --net card

    private static (int Code, string Output) Ip(params string[] args) => GuestProcess.Run("ip", TimeSpan.FromSeconds(30), args);

    [KvmFact]
    public void Netserve_answers_arp_ping_udp_and_streams_tcp_counters_without_loss()
    {
        Assert.True(Environment.UserName == "root", "the test needs root (a network namespace and a tap); this suite runs as root");
        string ns = $"ferrynet-{Environment.ProcessId}";
        Process? qemu = null;
        var console = new StringBuilder();
        try
        {
            Assert.Equal(0, Ip("netns", "add", ns).Code);
            Assert.Equal(0, Ip("-n", ns, "link", "set", "lo", "up").Code);
            Assert.Equal(0, Ip("-n", ns, "tuntap", "add", "dev", Tap, "mode", "tap").Code);
            Assert.Equal(0, Ip("-n", ns, "addr", "add", $"{HostAddress}/24", "dev", Tap).Code);
            Assert.Equal(0, Ip("-n", ns, "link", "set", Tap, "up").Code);

            var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (var a in new[] { "netns", "exec", ns, Path.Combine(TestGuest.RepositoryRoot, "guest", "kernel", "test-qemu.sh"),
                         "--smp", "2", "--mem", "512M", "--timeout", "240", "--net", Tap, TestGuest.Kernel, TestGuest.Initrd,
                         TestGuest.Run("netserve", $"--ip {GuestAddress}/24 --seconds 30 --hb-ms 1000") })
                start.ArgumentList.Add(a);
            var ready = new ManualResetEventSlim();
            qemu = Process.Start(start)!;
            void OnLine(string? line)
            {
                if (line is null) return;
                lock (console) console.AppendLine(line);
                if (line.StartsWith("netserve ready", StringComparison.Ordinal)) ready.Set();
            }
            qemu.OutputDataReceived += (_, e) => OnLine(e.Data);
            qemu.ErrorDataReceived += (_, e) => OnLine(e.Data);
            qemu.BeginOutputReadLine();
            qemu.BeginErrorReadLine();
            Assert.True(ready.Wait(TimeSpan.FromSeconds(120)), $"netserve did not become ready:\n{Console()}");
            Assert.Matches(@"ferry-guest: virtio-net /dev/net0 at 0x[0-9a-f]+ gsi=\d+ mac=52:54:00:12:34:50 mtu=1500 link=up queue=\d+", Console());
            Assert.Contains($"netserve ready ip={GuestAddress}/24 mac={GuestMac} mtu=1500 tcp=7000 udp=7001 echo=7002", Console());

            // ICMP echo (after ARP): the tap's side learned the guest's MAC.
            var icmp = Probe(ns, "icmp", "--seconds", "2", "--interval-ms", "20");
            Assert.Equal(0, icmp.GetProperty("lost").GetInt32());
            Assert.True(icmp.GetProperty("received").GetInt32() >= 50, icmp.ToString());
            Assert.Contains(GuestMac, Ip("-n", ns, "neigh", "show", GuestAddress).Output);

            var udp = Probe(ns, "udp", "--seconds", "2", "--interval-ms", "20", "--size", "1000");
            Assert.Equal(0, udp.GetProperty("lost").GetInt32());
            Assert.Equal(0, udp.GetProperty("reordered").GetInt32());

            var echo = Probe(ns, "echo", "--seconds", "2", "--interval-ms", "20", "--size", "200");
            Assert.Equal(0, echo.GetProperty("lost").GetInt32());

            var stream = Probe(ns, "stream", "--seconds", "4");
            Assert.Equal(0, stream.GetProperty("lost").GetInt64());
            Assert.Equal(0, stream.GetProperty("reordered").GetInt64());
            Assert.True(stream.GetProperty("counters").GetInt64() > 10_000, stream.ToString());

            Assert.True(qemu.WaitForExit(TimeSpan.FromSeconds(120)), $"the guest did not power off:\n{Console()}");
            qemu.WaitForExit();
            Assert.True(qemu.ExitCode == 0, $"QEMU exited {qemu.ExitCode}:\n{Console()}");
            Assert.Matches(@"netserve conn close port=7000 peer=10\.97\.0\.1:\d+ sent=[1-9]\d*", Console());
            Assert.Matches(@"netserve done seconds=\d+\.\d+ rx=[1-9]\d* tx=[1-9]\d* counters=[1-9]\d*", Console());
            Assert.Matches(@"HB 5 \d+ \d+", Console());
            Assert.Contains("ferry-guest: workload exited status=0", Console());
            Assert.DoesNotContain("ferry-guest: panic", Console());
        }
        finally
        {
            if (qemu is { HasExited: false }) qemu.Kill(entireProcessTree: true);
            qemu?.Dispose();
            Ip("netns", "del", ns); // the tap goes with it
        }

        string Console()
        {
            lock (console) return console.ToString();
        }
    }

    /// <summary>bench/netprobe.py MODE GUEST ARGS inside the namespace: its JSON result (it must exit 0).</summary>
    private static JsonElement Probe(string ns, string mode, params string[] args)
    {
        var run = GuestProcess.Run("ip", TimeSpan.FromSeconds(60),
            ["netns", "exec", ns, "python3", Path.Combine(TestGuest.RepositoryRoot, "bench", "netprobe.py"), mode, GuestAddress, .. args]);
        string json = run.Output.Split('\n').LastOrDefault(l => l.StartsWith('{')) ?? throw new Xunit.Sdk.XunitException($"netprobe {mode}: no result:\n{run.Output}");
        Assert.True(run.Code == 0, $"netprobe {mode} exited {run.Code}: {run.Output}");
        return JsonDocument.Parse(json).RootElement.Clone();
    }
}
