using Ferry.Tests.Shared;

namespace Ferry.Kvm.Tests;

/// <summary>
/// TapDevice on real taps. Each test's tap is created by the test (it goes away with its
/// descriptor) and moved into a network namespace the test creates and deletes, so every frame
/// stays on the tap and inside that namespace.
/// </summary>
public sealed class TapDeviceTests : IDisposable
{
    private readonly TestNetns _ns = new();

    public void Dispose() => _ns.Dispose();

    private (TapDevice Tap, string Name) TapInNamespace()
    {
        string name = TestNetns.UniqueInterfaceName("ftap");
        var tap = TapDevice.Open(name);
        _ns.MoveIn(name);
        _ns.Exec("sysctl", "-q", "-w", $"net.ipv6.conf.{name}.disable_ipv6=1");
        _ns.Exec("ip", "addr", "add", "10.99.0.1/24", "dev", name);
        _ns.Exec("ip", "link", "set", name, "up");
        return (tap, name);
    }

    [Fact]
    public void A_frame_the_namespace_sends_is_read_with_a_vnet_header()
    {
        var (tap, name) = TapInNamespace();
        using (tap)
        {
            // The namespace's kernel asks for 10.99.0.2 with an ARP broadcast out of the tap.
            _ns.Exec("bash", "-c", "echo x > /dev/udp/10.99.0.2/9");
            var buffer = new byte[2048];
            int n = 0;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                n = tap.Read(buffer);
                if (n > 0 && buffer[12 + 12] == 0x08 && buffer[12 + 13] == 0x06) break; // ethertype ARP
                if (n == 0) Thread.Sleep(10);
            }
            Assert.True(n >= TapDevice.VnetHeaderBytes + 42, $"no ARP frame from {name}");
            Assert.Equal(0, buffer[0]); // no offloads asked for: no flags, no GSO
            Assert.Equal(0, buffer[1]);
            Assert.All(buffer.AsSpan(TapDevice.VnetHeaderBytes, 6).ToArray(), b => Assert.Equal(0xff, b));
        }
    }

    [Fact]
    public void A_frame_written_to_the_tap_reaches_the_namespace()
    {
        var (tap, name) = TapInNamespace();
        using (tap)
        {
            ulong before = RxPackets(name);
            var frame = new byte[TapDevice.VnetHeaderBytes + 60];
            frame.AsSpan(TapDevice.VnetHeaderBytes, 6).Fill(0xff);
            byte[] source = [0x02, 0, 0, 0, 0, 1];
            source.CopyTo(frame, TapDevice.VnetHeaderBytes + 6);
            frame[TapDevice.VnetHeaderBytes + 12] = 0x88; // a local experimental ethertype 0x88b5
            frame[TapDevice.VnetHeaderBytes + 13] = 0xb5;
            Assert.True(tap.Write(frame));
            Assert.Equal(before + 1, RxPackets(name));
        }
    }

    [Fact]
    public void A_second_open_of_a_tap_in_use_is_refused_with_ebusy()
    {
        string name = TestNetns.UniqueInterfaceName("ftap");
        using var first = TapDevice.Open(name);
        var e = Assert.Throws<KvmException>(() => TapDevice.Open(name));
        Assert.Equal("TUNSETIFF", e.Operation);
        Assert.Equal(16, e.Errno); // EBUSY
    }

    [Fact]
    public void Offloads_can_be_set_and_cleared()
    {
        string name = TestNetns.UniqueInterfaceName("ftap");
        using var tap = TapDevice.Open(name);
        tap.SetOffload(TapDevice.OffloadCsum | TapDevice.OffloadTso4 | TapDevice.OffloadTso6);
        tap.SetOffload(0);
    }

    private ulong RxPackets(string name) => ulong.Parse(_ns.Exec("cat", $"/sys/class/net/{name}/statistics/rx_packets").Trim());
}
