using Ferry.Api;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Net;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;
using Ferry.Vmm.Tests.State;

namespace Ferry.Vmm.Tests.Devices.Virtio.Net;

/// <summary>A virtio-net device's entry in a saved VM: golden bytes of every version, a round trip, and corrupt or mismatched entries refused.</summary>
public sealed class VirtioNetStateTests
{
    /// <summary>A driven card: VERSION_1, MAC, STATUS, MTU negotiated; both queues ready, 7 frames received and 3 sent.</summary>
    internal static readonly VirtioNetState Sample = new(
        new VirtioMmioState(Status: 0x0f, DriverFeatures: 1UL << 32 | 1UL << 16 | 1UL << 5 | 1UL << 3, DeviceFeaturesSel: 1, DriverFeaturesSel: 1,
            QueueSel: 1, InterruptStatus: 1, ConfigGeneration: 0,
            [new VirtqueueState(Size: 256, Ready: true, DescGpa: 0x1000, AvailGpa: 0x2000, UsedGpa: 0x3000, LastAvailIdx: 7, UsedIdx: 7),
             new VirtqueueState(Size: 256, Ready: true, DescGpa: 0x4000, AvailGpa: 0x5000, UsedGpa: 0x6000, LastAvailIdx: 3, UsedIdx: 3)]),
        new MacAddress(0x52_54_00_12_34_56), VirtioNet.StatusLinkUp);

    internal static readonly Dictionary<uint, string> Golden = new()
    {
        [1] = """
            0f000000 2800010001000000 01000000 01000000 01000000 01000000 00000000
            02000000
            00010000 01000000 0010000000000000 0020000000000000 0030000000000000 07000000 07000000
            00010000 01000000 0040000000000000 0050000000000000 0060000000000000 03000000 03000000
            5634120054520000 01000000
            """,
    };

    [Fact]
    public void The_current_version_encodes_as_its_golden_bytes()
    {
        Assert.True(Golden.TryGetValue(VirtioNetState.Version, out var golden), $"add the golden bytes of VirtioNetState version {VirtioNetState.Version}");
        var entry = DeviceStateEntry.Of(DeviceIds.VirtioNet(0), Sample);
        Assert.Equal("virtio-net0", entry.Id);
        GoldenHex.AssertEqual(golden, entry.Payload);
    }

    [Fact]
    public void Every_golden_version_decodes_to_the_sample()
    {
        foreach (var (version, golden) in Golden)
        {
            var decoded = new DeviceStateEntry(DeviceIds.VirtioNet(0), version, GoldenHex.Parse(golden)).Decode<VirtioNetState>();
            Assert.Equal(Sample.Mac, decoded.Mac);
            Assert.Equal(DeviceStateEntry.Of("x", Sample).Payload, DeviceStateEntry.Of("x", decoded).Payload);
        }
    }

    private static string Refusal(string golden, uint version = 1) =>
        Assert.Throws<InvalidDataException>(() => new DeviceStateEntry("virtio-net0", version, GoldenHex.Parse(golden)).Decode<VirtioNetState>()).Message;

    [Fact]
    public void Corrupt_entries_are_refused_with_the_field_named()
    {
        string g = Golden[1];
        Assert.Contains("queue 1: 1 requests in flight", Refusal(g.Replace("03000000 03000000", "04000000 03000000")));
        Assert.Contains("queue 0: size 512 is more than 256", Refusal(g.Replace("00010000 01000000 0010", "00020000 01000000 0010")));
        Assert.Contains("is not a unicast address", Refusal(g.Replace("5634120054520000", "5634120054530000")));
        Assert.Contains("more than 48 bits", Refusal(g.Replace("5634120054520000", "5634120054520001")));
        Assert.Contains("link status", Refusal(g.Replace("5634120054520000 01000000", "5634120054520000 02000000")));
        Assert.Contains("past its last field", Refusal(g + " 00"));
        Assert.Contains("ends inside link status", Refusal(g.Replace("5634120054520000 01000000", "5634120054520000 0100")));
        Assert.Equal("device virtio-net0: state version 2 is newer than this ferry supports (1)", Refusal(g, version: 2));
    }

    [Fact]
    public void A_state_with_one_queue_is_refused()
    {
        var t = Sample.Transport;
        var oneQueue = Sample with { Transport = t with { Queues = [t.Queues[0]] } };
        var payload = DeviceStateEntry.Of("virtio-net0", oneQueue).Payload;
        Assert.Contains("1 queues; virtio-net has 2", Assert.Throws<InvalidDataException>(() => new DeviceStateEntry("virtio-net0", 1, payload).Decode<VirtioNetState>()).Message);
    }

    [Fact]
    public void A_saved_card_goes_on_in_a_new_device_and_a_mismatched_one_is_refused_first()
    {
        using var source = new NetTestDriver(tap: null, Sample.Mac);
        source.Start();
        source.Net.Worker.Quiesce();
        var saved = DeviceStateEntry.Of("virtio-net0", new VirtioNetState(source.Transport.Save(), source.Net.Mac, source.Net.LinkStatus)).Decode<VirtioNetState>();
        using var destination = new NetTestDriver(tap: null, Sample.Mac);
        Assert.Null(destination.Transport.CheckRestorable(saved.Transport));
        destination.Transport.Restore(saved.Transport);
        Assert.Equal(0x0fu, destination.R(0x70));
        var t = saved.Transport;
        Assert.Contains("1 queues saved, the device has 2", destination.Transport.CheckRestorable(t with { Queues = [t.Queues[0]] }));
        Assert.Contains("not in guest RAM", destination.Transport.CheckRestorable(t with { Queues = [t.Queues[0] with { UsedGpa = 1UL << 32 }, t.Queues[1]] }));
    }

    [Fact]
    public void A_vm_state_without_the_entry_of_a_card_it_has_is_refused()
    {
        byte[] state = SavedStates.Version2(SavedStates.AllDevices());
        var e = Assert.Throws<InvalidDataException>(() => VmState.Decode(state, 0, SavedStates.Host, netCount: 1));
        Assert.Equal("the device state section: device virtio-net0: missing from the state", e.Message);
        byte[] withCard = SavedStates.Version2([.. SavedStates.AllDevices(), DeviceStateEntry.Of(DeviceIds.VirtioNet(0), Sample)]);
        Assert.Single(VmState.Decode(withCard, 0, SavedStates.Host, netCount: 1).Nets);
        e = Assert.Throws<InvalidDataException>(() => VmState.Decode(withCard, 0, SavedStates.Host));
        Assert.Equal("the device state section: device virtio-net0: this VM has no such device", e.Message);
    }
}
