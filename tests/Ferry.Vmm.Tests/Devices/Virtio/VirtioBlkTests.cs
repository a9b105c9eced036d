using System.Buffers.Binary;
using System.Text;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Blk;

namespace Ferry.Vmm.Tests.Devices.Virtio;

public sealed class VirtioBlkTests : IDisposable
{
    private readonly TempImage _image = new(1 << 20, i => (byte)(i / 512));

    public void Dispose() => _image.Dispose();

    private VirtioTestDriver Started(bool readOnly = false, string serial = "test-serial")
    {
        var driver = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly), serial);
        driver.Start();
        return driver;
    }

    [Fact]
    public void A_read_copies_the_sectors_into_guest_memory_and_marks_them_written()
    {
        using var d = Started();
        var (status, used) = d.Request(VirtioBlk.RequestIn, 3, VirtioTestDriver.Data, 1024, deviceWritesData: true);
        Assert.Equal(VirtioBlk.StatusOk, status);
        Assert.Equal(1025u, used);
        Assert.All(d.Ram.Array.AsSpan((int)VirtioTestDriver.Data, 512).ToArray(), b => Assert.Equal(3, b));
        Assert.All(d.Ram.Array.AsSpan((int)VirtioTestDriver.Data + 512, 512).ToArray(), b => Assert.Equal(4, b));
        Assert.True(d.Ram.WasWritten(VirtioTestDriver.Data));
        Assert.True(d.Ram.WasWritten(VirtioTestDriver.Used + 2));
    }

    [Fact]
    public void A_write_reaches_the_image()
    {
        using (var d = Started())
        {
            d.Ram.Array.AsSpan((int)VirtioTestDriver.Data, 512).Fill(0x5a);
            var (status, used) = d.Request(VirtioBlk.RequestOut, 10, VirtioTestDriver.Data, 512, deviceWritesData: false);
            Assert.Equal(VirtioBlk.StatusOk, status);
            Assert.Equal(1u, used);
        }
        var image = _image.Read();
        Assert.All(image.AsSpan(10 * 512, 512).ToArray(), b => Assert.Equal(0x5a, b));
        Assert.Equal(11, image[11 * 512]);
    }

    [Fact]
    public void A_request_split_across_buffers_at_odd_places_is_served_the_same()
    {
        using var d = Started();
        // Header in two pieces (10 + 6 bytes), data in three (100 + 412 + 512), status alone.
        d.Header(0x8000, VirtioBlk.RequestIn, 5);
        d.Ram.Array.AsSpan(0x8000 + 10, 6).CopyTo(d.Ram.Array.AsSpan(0x8200));
        d.AddChain((0x8000, 10, false), (0x8200, 6, false), (0x20000, 100, true), (0x30000, 412, true), (0x40000, 512, true), (0x8100, 1, true));
        d.Notify();
        d.WaitInterrupt();
        Assert.Equal(0, d.Ram.Array[0x8100]);
        Assert.Equal(5, d.Ram.Array[0x20000]);
        Assert.Equal(5, d.Ram.Array[0x30000 + 411]);
        Assert.Equal(6, d.Ram.Array[0x40000]);
    }

    [Fact]
    public void A_flush_is_an_fdatasync_of_the_image()
    {
        using var d = Started();
        Assert.Equal(VirtioBlk.StatusOk, d.Request(VirtioBlk.RequestFlush, 0, 0, 0, false).Status);
        Assert.Equal(1, d.Blk.Disk.Flushes);
    }

    [Fact]
    public void Get_id_returns_the_serial_padded_to_20_bytes()
    {
        using var d = Started(serial: "data-disk");
        d.Ram.Array.AsSpan((int)VirtioTestDriver.Data, 20).Fill(0xff);
        var (status, used) = d.Request(VirtioBlk.RequestGetId, 0, VirtioTestDriver.Data, 20, deviceWritesData: true);
        Assert.Equal(VirtioBlk.StatusOk, status);
        Assert.Equal(21u, used);
        Assert.Equal("data-disk" + new string('\0', 11), Encoding.ASCII.GetString(d.Ram.Array, (int)VirtioTestDriver.Data, 20));
    }

    [Fact]
    public void A_readonly_disk_offers_RO_and_refuses_a_write_and_a_discard()
    {
        using var d = Started(readOnly: true);
        Assert.NotEqual(0UL, d.DeviceFeatures() & (1UL << VirtioBlk.FeatureRo));
        d.Ram.Array.AsSpan((int)VirtioTestDriver.Data, 512).Fill(0x77);
        Assert.Equal(VirtioBlk.StatusIoErr, d.Request(VirtioBlk.RequestOut, 0, VirtioTestDriver.Data, 512, false).Status);
        Assert.Equal(VirtioBlk.StatusIoErr, d.Request(VirtioBlk.RequestDiscard, 0, VirtioTestDriver.Data, 16, false).Status);
        Assert.Equal(VirtioBlk.StatusOk, d.Request(VirtioBlk.RequestIn, 0, VirtioTestDriver.Data, 512, true).Status);
        Assert.Equal(0, _image.Read()[0]);
    }

    [Fact]
    public void A_request_past_the_end_of_the_disk_fails_alone()
    {
        using var d = Started();
        Assert.Equal(VirtioBlk.StatusIoErr, d.Request(VirtioBlk.RequestIn, 2047, VirtioTestDriver.Data, 1024, true).Status);
        Assert.Equal(VirtioBlk.StatusIoErr, d.Request(VirtioBlk.RequestIn, ulong.MaxValue, VirtioTestDriver.Data, 512, true).Status);
        Assert.Equal(VirtioBlk.StatusOk, d.Request(VirtioBlk.RequestIn, 2047, VirtioTestDriver.Data, 512, true).Status);
    }

    [Fact]
    public void A_data_buffer_outside_guest_RAM_fails_that_request_only()
    {
        using var d = Started();
        Assert.Equal(VirtioBlk.StatusIoErr, d.Request(VirtioBlk.RequestIn, 0, 1UL << 32, 512, true).Status);
        Assert.Equal(VirtioBlk.StatusOk, d.Request(VirtioBlk.RequestIn, 0, VirtioTestDriver.Data, 512, true).Status);
    }

    [Fact]
    public void An_unknown_request_type_is_unsupported()
    {
        using var d = Started();
        Assert.Equal(VirtioBlk.StatusUnsupported, d.Request(99, 0, 0, 0, false).Status);
    }

    [Fact]
    public void A_discard_zeroes_the_range_or_leaves_it_where_holes_cannot_be_punched()
    {
        using (var d = Started())
        {
            var seg = d.Ram.Array.AsSpan((int)VirtioTestDriver.Data, 16);
            BinaryPrimitives.WriteUInt64LittleEndian(seg, 8);
            BinaryPrimitives.WriteUInt32LittleEndian(seg[8..], 8);
            Assert.Equal(VirtioBlk.StatusOk, d.Request(VirtioBlk.RequestDiscard, 0, VirtioTestDriver.Data, 16, false).Status);
        }
        var image = _image.Read();
        Assert.True(image[8 * 512] is 0 or 8);
        Assert.Equal(16, image[16 * 512]);
        Assert.Equal(1 << 20, image.Length);
    }

    [Fact]
    public void A_chain_that_loops_sets_DEVICE_NEEDS_RESET_and_stops_the_queue()
    {
        using var d = Started();
        d.SetDescriptor(VirtioTestDriver.Desc, 0, 0x8000, 16, Virtqueue.DescNext, 1);
        d.SetDescriptor(VirtioTestDriver.Desc, 1, 0x8100, 1, Virtqueue.DescNext | Virtqueue.DescWrite, 0);
        d.MakeAvailable(0);
        d.Notify();
        d.WaitInterrupt();
        Assert.NotEqual(0u, d.R(0x70) & VirtioMmioTransport.StatusNeedsReset);
        Assert.Equal(VirtioInterrupt.ConfigChange, d.R(0x60));
        Assert.Equal(0, d.UsedIdx);
        // A reset brings it back.
        d.W(0x70, 0);
        Assert.Equal(0u, d.R(0x70));
    }

    public static TheoryData<string> MalformedChains => ["head outside the table", "next outside the table", "readable after writable", "indirect inside indirect", "indirect of bad length", "ring index far ahead"];

    [Theory]
    [MemberData(nameof(MalformedChains))]
    public void A_malformed_chain_sets_DEVICE_NEEDS_RESET_and_never_throws(string what)
    {
        using var d = Started();
        const ulong Table = 0x50000;
        switch (what)
        {
            case "head outside the table":
                d.MakeAvailable(VirtioTestDriver.Size + 3);
                break;
            case "next outside the table":
                d.SetDescriptor(VirtioTestDriver.Desc, 0, 0x8000, 16, Virtqueue.DescNext, 200);
                d.MakeAvailable(0);
                break;
            case "readable after writable":
                d.SetDescriptor(VirtioTestDriver.Desc, 0, 0x8100, 1, Virtqueue.DescNext | Virtqueue.DescWrite, 1);
                d.SetDescriptor(VirtioTestDriver.Desc, 1, 0x8000, 16, 0, 0);
                d.MakeAvailable(0);
                break;
            case "indirect inside indirect":
                d.SetDescriptor(VirtioTestDriver.Desc, 0, Table, 32, Virtqueue.DescIndirect, 0);
                d.SetDescriptor(Table, 0, Table + 0x100, 16, Virtqueue.DescIndirect, 0);
                d.MakeAvailable(0);
                break;
            case "indirect of bad length":
                d.SetDescriptor(VirtioTestDriver.Desc, 0, Table, 20, Virtqueue.DescIndirect, 0);
                d.MakeAvailable(0);
                break;
            case "ring index far ahead":
                BinaryPrimitives.WriteUInt16LittleEndian(d.Ram.Bytes(VirtioTestDriver.Avail + 2, 2), 1000);
                break;
        }
        d.Notify();
        d.WaitInterrupt();
        Assert.NotEqual(0u, d.R(0x70) & VirtioMmioTransport.StatusNeedsReset);
    }

    [Fact]
    public void An_indirect_table_carries_a_whole_request()
    {
        using var d = Started();
        const ulong Table = 0x50000;
        d.Header(0x8000, VirtioBlk.RequestIn, 7);
        d.SetDescriptor(Table, 0, 0x8000, 16, Virtqueue.DescNext, 1);
        d.SetDescriptor(Table, 1, VirtioTestDriver.Data, 512, Virtqueue.DescNext | Virtqueue.DescWrite, 2);
        d.SetDescriptor(Table, 2, 0x8100, 1, Virtqueue.DescWrite, 0);
        d.SetDescriptor(VirtioTestDriver.Desc, 0, Table, 48, Virtqueue.DescIndirect, 0);
        d.MakeAvailable(0);
        d.Notify();
        d.WaitInterrupt();
        Assert.Equal(1, d.UsedIdx);
        Assert.Equal(0, d.Ram.Array[0x8100]);
        Assert.Equal(7, d.Ram.Array[(int)VirtioTestDriver.Data]);
    }

    [Fact]
    public void No_interrupt_is_sent_while_the_driver_asks_for_none_but_the_request_is_served()
    {
        using var d = Started();
        BinaryPrimitives.WriteUInt16LittleEndian(d.Ram.Bytes(VirtioTestDriver.Avail, 2), Virtqueue.AvailNoInterrupt);
        d.Header(0x8000, VirtioBlk.RequestFlush, 0);
        d.AddChain((0x8000, 16, false), (0x8100, 1, true));
        d.Notify();
        // Then interrupts back on and a second request: its interrupt means both were served
        // (in order), and it must be the only one.
        BinaryPrimitives.WriteUInt16LittleEndian(d.Ram.Bytes(VirtioTestDriver.Avail, 2), 0);
        d.AddChain((0x8000, 16, false), (0x8100, 1, true));
        d.Notify();
        d.WaitInterrupt();
        Assert.Equal(2, d.UsedIdx);
        Assert.Equal(0, d.PendingInterrupts);
    }
}
