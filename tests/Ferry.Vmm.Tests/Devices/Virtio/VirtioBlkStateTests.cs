using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Blk;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;
using Ferry.Vmm.Tests.State;

namespace Ferry.Vmm.Tests.Devices.Virtio;

/// <summary>
/// A virtio-blk device's entry in a saved VM, which other Ferry builds read: golden bytes of every
/// version, a round trip through a live device, and every kind of corrupt or mismatched entry refused.
/// </summary>
public sealed class VirtioBlkStateTests : IDisposable
{
    private readonly TempImage _image = new(1 << 20, i => (byte)(i / 512));

    public void Dispose() => _image.Dispose();

    /// <summary>A driven device: features negotiated (VERSION_1, FLUSH, INDIRECT), queue 0 ready with 5 requests served.</summary>
    internal static readonly VirtioBlkState Sample = new(
        new VirtioMmioState(Status: 0x0f, DriverFeatures: 1UL << 32 | 1UL << 28 | 1UL << 9, DeviceFeaturesSel: 1, DriverFeaturesSel: 1,
            QueueSel: 0, InterruptStatus: 1, ConfigGeneration: 0,
            [new VirtqueueState(Size: 16, Ready: true, DescGpa: 0x1000, AvailGpa: 0x2000, UsedGpa: 0x3000, LastAvailIdx: 5, UsedIdx: 5)]),
        CapacitySectors: 2048);

    internal static readonly Dictionary<uint, string> Golden = new()
    {
        [1] = """
            0f000000 0002001001000000 01000000 01000000 00000000 01000000 00000000
            01000000
            10000000 01000000 0010000000000000 0020000000000000 0030000000000000 05000000 05000000
            0008000000000000
            """,
    };

    [Fact]
    public void The_current_version_encodes_as_its_golden_bytes()
    {
        Assert.True(Golden.TryGetValue(VirtioBlkState.Version, out var golden), $"add the golden bytes of VirtioBlkState version {VirtioBlkState.Version}");
        var entry = DeviceStateEntry.Of(DeviceIds.VirtioBlk(0), Sample);
        Assert.Equal("virtio-blk0", entry.Id);
        GoldenHex.AssertEqual(golden, entry.Payload);
    }

    [Fact]
    public void Every_golden_version_decodes_to_the_sample()
    {
        foreach (var (version, golden) in Golden)
        {
            var decoded = new DeviceStateEntry(DeviceIds.VirtioBlk(0), version, GoldenHex.Parse(golden)).Decode<VirtioBlkState>();
            Assert.Equal(DeviceStateEntry.Of("x", Sample).Payload, DeviceStateEntry.Of("x", decoded).Payload);
        }
    }

    private static string Refusal(string golden) =>
        Assert.Throws<InvalidDataException>(() => new DeviceStateEntry("virtio-blk0", 1, GoldenHex.Parse(golden)).Decode<VirtioBlkState>()).Message;

    [Fact]
    public void Requests_in_flight_are_refused()
    {
        string g = Golden[1].Replace("05000000 05000000", "06000000 05000000");
        Assert.Equal("device virtio-blk0: queue 0: 1 requests in flight (last avail idx 6, used idx 5); a saved device has none", Refusal(g));
    }

    [Fact]
    public void Status_bits_virtio_does_not_define_are_refused() =>
        Assert.Contains("status 0x10 has bits virtio does not define", Refusal(Golden[1].Replace("0f000000 0002", "10000000 0002")));

    [Fact]
    public void A_queue_larger_than_the_device_has_is_refused() =>
        Assert.Contains("queue size 512 is more than 256", Refusal(Golden[1].Replace("10000000 01000000 0010", "00020000 01000000 0010")));

    [Fact]
    public void A_truncated_entry_and_trailing_bytes_are_refused()
    {
        Assert.Contains("ends inside capacity", Refusal(Golden[1].Replace("0008000000000000", "00080000")));
        Assert.Contains("past its last field", Refusal(Golden[1] + " 00"));
    }

    [Fact]
    public void A_newer_version_is_refused() =>
        Assert.Equal("device virtio-blk0: state version 2 is newer than this ferry supports (1)",
            Assert.Throws<InvalidDataException>(() => new DeviceStateEntry("virtio-blk0", 2, GoldenHex.Parse(Golden[1])).Decode<VirtioBlkState>()).Message);

    [Fact]
    public void A_saved_device_goes_on_where_it_stopped_in_a_new_one()
    {
        VirtioMmioState saved;
        byte[] ram;
        using (var source = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: false)))
        {
            source.Start();
            Assert.Equal(VirtioBlk.StatusOk, source.Request(VirtioBlk.RequestIn, 1, VirtioTestDriver.Data, 512, true).Status);
            source.Blk.Worker.Quiesce(); // the pause
            saved = source.Transport.Save();
            ram = source.Ram.Array.ToArray();
        }
        var payload = DeviceStateEntry.Of("virtio-blk0", new VirtioBlkState(saved, 2048));
        var decoded = payload.Decode<VirtioBlkState>();

        using var destination = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: false));
        ram.CopyTo(destination.Ram.Array, 0);
        Assert.Null(destination.Transport.CheckRestorable(decoded.Transport));
        destination.Transport.Restore(decoded.Transport);
        Assert.Equal(0x0fu, destination.R(0x70));
        Assert.Equal(1, destination.UsedIdx);
        // The driver's next request: its index goes on from 1 in both rings.
        destination.Header(0x8000, VirtioBlk.RequestIn, 9);
        destination.SetDescriptor(VirtioTestDriver.Desc, 3, 0x8000, 16, Virtqueue.DescNext, 4);
        destination.SetDescriptor(VirtioTestDriver.Desc, 4, VirtioTestDriver.Data, 512, Virtqueue.DescNext | Virtqueue.DescWrite, 5);
        destination.SetDescriptor(VirtioTestDriver.Desc, 5, 0x8100, 1, Virtqueue.DescWrite, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(destination.Ram.Bytes(VirtioTestDriver.Avail + 4 + 2, 2), 3);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(destination.Ram.Bytes(VirtioTestDriver.Avail + 2, 2), 2);
        destination.Notify();
        destination.WaitInterrupt();
        Assert.Equal(2, destination.UsedIdx);
        Assert.Equal((3u, 513u), destination.UsedEntry(1));
        Assert.Equal(9, destination.Ram.Array[(int)VirtioTestDriver.Data]);
    }

    [Fact]
    public void A_restored_device_whose_interrupt_was_not_acknowledged_raises_its_line_again()
    {
        VirtioMmioState saved;
        byte[] ram;
        using (var source = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: false)))
        {
            source.Start();
            // A completion the driver has not acknowledged yet: its InterruptStatus bit is set.
            Assert.Equal(VirtioBlk.StatusOk, source.Request(VirtioBlk.RequestIn, 1, VirtioTestDriver.Data, 512, true).Status);
            source.Blk.Worker.Quiesce();
            saved = source.Transport.Save();
            ram = source.Ram.Array.ToArray();
        }
        Assert.Equal(VirtioInterrupt.UsedBuffer, saved.InterruptStatus);

        using var destination = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: false));
        ram.CopyTo(destination.Ram.Array, 0);
        destination.Transport.Restore(saved);
        Assert.Equal(0, destination.PendingInterrupts);
        destination.Transport.ReassertInterrupt();
        Assert.Equal(1, destination.PendingInterrupts);

        // Acknowledged before the pause: nothing to raise.
        using var quiet = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: false));
        ram.CopyTo(quiet.Ram.Array, 0);
        quiet.Transport.Restore(saved with { InterruptStatus = 0 });
        quiet.Transport.ReassertInterrupt();
        Assert.Equal(0, quiet.PendingInterrupts);
    }

    [Fact]
    public void A_state_this_device_cannot_take_is_refused_before_anything_changes()
    {
        using var readOnly = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: true));
        var t = Sample.Transport;
        Assert.Null(readOnly.Transport.CheckRestorable(t));
        Assert.Contains("this device does not offer", readOnly.Transport.CheckRestorable(t with { DriverFeatures = t.DriverFeatures | 1UL << 29 }));
        Assert.Contains("the descriptor table at 0x100000000 is not in guest RAM",
            readOnly.Transport.CheckRestorable(t with { Queues = [t.Queues[0] with { DescGpa = 1UL << 32 }] }));
        Assert.Contains("misaligned", readOnly.Transport.CheckRestorable(t with { Queues = [t.Queues[0] with { UsedGpa = 0x3002 }] }));
        Assert.Contains("2 queues saved", readOnly.Transport.CheckRestorable(t with { Queues = [t.Queues[0], t.Queues[0]] }));
        Assert.Throws<InvalidDataException>(() => readOnly.Transport.Restore(t with { Queues = [t.Queues[0] with { Size = 0 }] }));
        Assert.Equal(0u, readOnly.R(0x70));
    }

    [Fact]
    public void A_vm_state_without_the_entry_of_a_disk_it_has_is_refused()
    {
        byte[] state = SavedStates.Version2(SavedStates.AllDevices());
        var e = Assert.Throws<InvalidDataException>(() => VmState.Decode(state, 0, SavedStates.Host, diskCount: 1));
        Assert.Equal("the device state section: device virtio-blk0: missing from the state", e.Message);
        byte[] withDisk = SavedStates.Version2([.. SavedStates.AllDevices(), DeviceStateEntry.Of(DeviceIds.VirtioBlk(0), Sample)]);
        Assert.Single(VmState.Decode(withDisk, 0, SavedStates.Host, diskCount: 1).Disks);
        e = Assert.Throws<InvalidDataException>(() => VmState.Decode(withDisk, 0, SavedStates.Host, diskCount: 0));
        Assert.Equal("the device state section: device virtio-blk0: this VM has no such device", e.Message);
    }
}
