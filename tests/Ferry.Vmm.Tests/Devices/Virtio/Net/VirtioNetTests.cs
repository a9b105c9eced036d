using Ferry.Api;
using System.Buffers.Binary;
using Ferry.Kvm;
using Ferry.Tests.Shared;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Net;

namespace Ferry.Vmm.Tests.Devices.Virtio.Net;

/// <summary>
/// The virtio-net device against fake guest RAM and a real tap, which the test creates and moves
/// into a network namespace it creates and deletes: every frame stays on that tap and in there.
/// </summary>
public sealed class VirtioNetTests : IDisposable
{
    private readonly TestNetns _ns = new();
    private readonly string _tapName = TestNetns.UniqueInterfaceName("fnet");

    public void Dispose() => _ns.Dispose();

    /// <summary>The tap, opened here and then moved into the namespace, up, without IPv6 (no frames of its own).</summary>
    private TapDevice Tap()
    {
        var tap = TapDevice.Open(_tapName);
        _ns.MoveIn(_tapName);
        _ns.Exec("sysctl", "-q", "-w", $"net.ipv6.conf.{_tapName}.disable_ipv6=1");
        _ns.Exec("ip", "link", "set", _tapName, "up");
        return tap;
    }

    /// <summary><paramref name="count"/> frames from 02:00:00:00:00:01 to broadcast, ethertype 0x88b5, sent into the tap from the namespace's side.</summary>
    private void SendFromNamespace(int count, int payloadBytes = 46) =>
        _ns.Exec("python3", "-c",
            "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0)); " +
            "[s.send(b'\\xff'*6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + bytes([i % 256]) * int(sys.argv[3])) for i in range(int(sys.argv[2]))]",
            _tapName, count.ToString(), payloadBytes.ToString());

    private ulong TapCounter(string which) => ulong.Parse(_ns.Exec("cat", $"/sys/class/net/{_tapName}/statistics/{which}").Trim());

    private static byte[] TestFrame(MacAddress source, byte fill)
    {
        var f = new byte[60];
        f.AsSpan(0, 6).Fill(0xff);
        source.CopyTo(f.AsSpan(6));
        f[12] = 0x88; f[13] = 0xb5;
        f.AsSpan(14).Fill(fill);
        return f;
    }

    [Fact]
    public void The_device_is_a_network_card_with_its_mac_link_up_and_mtu_1500()
    {
        var mac = new MacAddress(0x52_54_00_12_34_56);
        using var d = new NetTestDriver(tap: null, mac);
        Assert.Equal(1u, d.R(0x08));
        ulong offered = d.DeviceFeatures();
        Assert.Equal(NetTestDriver.GuestFeatures, offered & NetTestDriver.GuestFeatures);
        Assert.Equal(0UL, offered & (1UL << 15 | 1UL << 17 | 1UL << 22)); // no MRG_RXBUF, CTRL_VQ, MQ
        Span<byte> config = stackalloc byte[12];
        d.Transport.Read(0x100, config);
        Assert.Equal(mac.ToArray(), config[..6].ToArray());
        Assert.Equal(VirtioNet.StatusLinkUp, BinaryPrimitives.ReadUInt16LittleEndian(config[6..]));
        Assert.Equal(1500, BinaryPrimitives.ReadUInt16LittleEndian(config[10..]));
        d.Start(); // VERSION_1, MAC, STATUS, MTU only: the test guest's choice
    }

    [Fact]
    public void A_frame_the_guest_transmits_appears_on_the_tap()
    {
        using var d = new NetTestDriver(Tap());
        d.Start();
        ulong before = TapCounter("rx_packets");
        ushort head = d.QueueTransmit(0, TestFrame(d.Net.Mac, 0x5a));
        d.Notify();
        NetTestDriver.WaitUntil(() => d.UsedIdx(1) == 1, "the transmit chain is used");
        Assert.Equal((head, 0u), d.UsedEntry(1, 0));
        NetTestDriver.WaitUntil(() => TapCounter("rx_packets") == before + 1, "the frame reaches the tap");
        Assert.Equal(1, d.Net.TransmittedFrames);
    }

    [Fact]
    public void A_frame_written_into_the_tap_arrives_in_a_posted_buffer_behind_its_header()
    {
        using var d = new NetTestDriver(Tap());
        d.Start();
        for (int i = 0; i < 4; i++) d.PostReceive(i);
        d.Notify();
        SendFromNamespace(1, payloadBytes: 100);
        NetTestDriver.WaitUntil(() => d.UsedIdx(0) >= 1, "a receive buffer is used");
        var (id, length) = d.UsedEntry(0, 0);
        Assert.Equal(0u, id);
        Assert.Equal((uint)(VirtioNet.HeaderBytes + 14 + 100), length);
        var buffer = d.Ram.Array.AsSpan((int)NetTestDriver.RxBuffers, (int)length);
        Assert.Equal(0, buffer[0]);                                            // flags: no offloads negotiated
        Assert.Equal(VirtioNet.GsoNone, buffer[1]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(buffer[10..])); // num_buffers
        Assert.All(buffer.Slice(12, 6).ToArray(), b => Assert.Equal(0xff, b));
        Assert.Equal([0x88, 0xb5], buffer.Slice(24, 2).ToArray());
        Assert.True(d.Ram.WasWritten(NetTestDriver.RxBuffers));
        Assert.True(d.Ram.WasWritten(NetTestDriver.Used[0] + 2));
    }

    [Fact]
    public void Frames_wait_for_a_buffer_up_to_the_bound_and_the_rest_are_dropped_and_counted()
    {
        using var d = new NetTestDriver(Tap());
        d.Start();
        const int Sent = VirtioNet.MaxPendingFrames + 10;
        SendFromNamespace(Sent);
        NetTestDriver.WaitUntil(() => d.Net.ReceiveDropped == Sent - VirtioNet.MaxPendingFrames, "the frames beyond the bound are dropped");
        for (int i = 0; i < NetTestDriver.Size; i++) d.PostReceive(i);
        d.Notify();
        NetTestDriver.WaitUntil(() => d.UsedIdx(0) == VirtioNet.MaxPendingFrames, "the waiting frames are delivered");
        // In order: the first waiting frame was the first sent (payload byte 0).
        Assert.Equal(0, d.Ram.Array[(int)NetTestDriver.RxBuffers + VirtioNet.HeaderBytes + 14]);
        Assert.Equal(1, d.Ram.Array[(int)NetTestDriver.RxBuffers + (int)NetTestDriver.BufferBytes + VirtioNet.HeaderBytes + 14]);
    }

    [Fact]
    public void A_frame_larger_than_the_posted_buffer_is_dropped_and_the_buffer_stays_posted()
    {
        using var d = new NetTestDriver(Tap());
        d.Start();
        d.PostReceive(0, length: 64);
        d.Notify();
        SendFromNamespace(1, payloadBytes: 200);
        NetTestDriver.WaitUntil(() => d.Net.ReceiveTooBig == 1, "the frame is dropped");
        Assert.Equal(0, d.UsedIdx(0));
        SendFromNamespace(1, payloadBytes: 30); // 12 + 14 + 30 = 56 bytes fit
        NetTestDriver.WaitUntil(() => d.UsedIdx(0) == 1, "the small frame uses the buffer");
        Assert.Equal((0u, 56u), d.UsedEntry(0, 0));
    }

    [Fact]
    public void A_pause_sends_every_frame_already_queued_before_the_state_is_saved()
    {
        using var d = new NetTestDriver(Tap());
        d.Start();
        ulong before = TapCounter("rx_packets");
        d.Net.Worker.Quiesce(); // the pause: the I/O thread is held
        for (int i = 0; i < 3; i++) d.QueueTransmit(i, TestFrame(d.Net.Mac, (byte)i));
        d.Net.FlushTransmit();
        Assert.Equal(3, d.UsedIdx(1));
        var saved = d.Transport.Save();
        Assert.Equal(saved.Queues[1].UsedIdx, saved.Queues[1].LastAvailIdx);
        Assert.Equal(before + 3, TapCounter("rx_packets"));
        d.Net.Worker.Release();
    }

    [Fact]
    public void Offloads_the_guest_did_not_negotiate_are_never_sent()
    {
        using var d = new NetTestDriver(Tap());
        d.Start();
        var frame = TestFrame(d.Net.Mac, 1);
        d.Net.Worker.Quiesce(); // the frame is whole before the device may see it
        d.QueueTransmit(0, frame);
        d.Ram.Array[(int)NetTestDriver.TxBuffers] = VirtioNet.HeaderNeedsCsum; // CSUM was not negotiated
        d.Net.Worker.Release();
        NetTestDriver.WaitUntil(() => d.UsedIdx(1) == 1, "the chain is used");
        Assert.Equal(1, d.Net.TransmitDropped);
        Assert.Equal(0, d.Net.TransmittedFrames);
    }

    [Fact]
    public async Task The_announcement_teaches_a_bridge_where_the_guest_is()
    {
        var mac = new MacAddress(0x02_fe_11_22_33_44);
        using var d = new NetTestDriver(Tap(), mac);
        _ns.Exec("ip", "link", "add", "br0", "type", "bridge", "stp_state", "0");
        _ns.Exec("ip", "link", "set", _tapName, "master", "br0");
        _ns.Exec("ip", "link", "set", "br0", "up");
        await NetAnnouncement.SendAsync([d.Net], TimeProvider.System, CancellationToken.None);
        string fdb = _ns.Exec("bridge", "fdb", "show", "br", "br0");
        Assert.Contains($"{mac} dev {_tapName}", fdb);
        Assert.True(TapCounter("rx_packets") >= 5);
    }

    [Fact]
    public void The_announcement_is_a_gratuitous_rarp_from_the_guest_to_broadcast()
    {
        var f = NetAnnouncement.Frame(new MacAddress(0x52_54_00_ab_cd_ef)).AsSpan(VirtioNet.HeaderBytes);
        Assert.Equal(60, f.Length);
        Assert.Equal("ffffffffffff525400abcdef8035" + "0001080006040003" + "525400abcdef00000000" + "525400abcdef00000000",
            Convert.ToHexStringLower(f[..42]));
        Assert.All(f[42..].ToArray(), b => Assert.Equal(0, b));
    }
}
