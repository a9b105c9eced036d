using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Blk;

namespace Ferry.Vmm.Tests.Devices.Virtio;

public sealed class VirtioMmioTransportTests : IDisposable
{
    private readonly TempImage _image = new();
    private readonly VirtioTestDriver _driver;

    public VirtioMmioTransportTests() => _driver = new VirtioTestDriver(DiskImage.Open(_image.Path, readOnly: false));

    public void Dispose()
    {
        _driver.Dispose();
        _image.Dispose();
    }

    [Fact]
    public void The_registers_identify_a_version_2_block_device()
    {
        Assert.Equal(0x74726976u, _driver.R(0x000));
        Assert.Equal(2u, _driver.R(0x004));
        Assert.Equal(2u, _driver.R(0x008));
        _driver.W(0x30, 0);
        Assert.Equal(256u, _driver.R(0x034));
        _driver.W(0x30, 1);
        Assert.Equal(0u, _driver.R(0x034)); // no queue 1
    }

    [Fact]
    public void The_device_offers_version_1_flush_seg_max_blk_size_discard_and_indirect_descriptors()
    {
        ulong f = _driver.DeviceFeatures();
        foreach (int bit in new[] { 32, 9, 2, 6, 13, 28 }) Assert.True((f & (1UL << bit)) != 0, $"bit {bit}");
        Assert.Equal(0UL, f & (1UL << VirtioBlk.FeatureRo));
        Assert.Equal(0UL, f & (1UL << 29)); // no EVENT_IDX
    }

    [Fact]
    public void Features_without_version_1_or_beyond_the_offer_lose_FEATURES_OK()
    {
        Assert.False(_driver.NegotiateFeatures(1UL << VirtioBlk.FeatureFlush));
        _driver.W(0x70, 0);
        Assert.False(_driver.NegotiateFeatures(1UL << 32 | 1UL << 29));
        _driver.W(0x70, 0);
        Assert.True(_driver.NegotiateFeatures(1UL << 32 | 1UL << VirtioBlk.FeatureFlush));
    }

    [Fact]
    public void The_config_space_holds_the_capacity_in_sectors_and_the_block_size()
    {
        Assert.Equal((uint)((1 << 20) / 512), _driver.R(0x100));
        Assert.Equal(0u, _driver.R(0x104));
        Assert.Equal(VirtioBlk.SegMax, _driver.R(0x10c));
        Assert.Equal(512u, _driver.R(0x114));
    }

    [Fact]
    public void Writing_0_to_status_resets_the_device_and_its_queue()
    {
        _driver.Start();
        _driver.W(0x70, 0);
        Assert.Equal(0u, _driver.R(0x70));
        _driver.W(0x30, 0);
        Assert.Equal(0u, _driver.R(0x044));
    }

    [Fact]
    public void A_queue_outside_guest_RAM_sets_DEVICE_NEEDS_RESET_at_DRIVER_OK()
    {
        Assert.True(_driver.NegotiateFeatures(_driver.DeviceFeatures()));
        _driver.W(0x30, 0);
        _driver.W(0x38, 16);
        _driver.W(0x80, 0); _driver.W(0x84, 1); // 4 GiB: not RAM
        _driver.W(0x90, 0x2000); _driver.W(0xa0, 0x3000);
        _driver.W(0x44, 1);
        _driver.W(0x70, _driver.R(0x70) | VirtioMmioTransport.StatusDriverOk);
        uint status = _driver.R(0x70);
        Assert.NotEqual(0u, status & VirtioMmioTransport.StatusNeedsReset);
        Assert.Equal(0u, status & VirtioMmioTransport.StatusDriverOk);
        Assert.Equal(VirtioInterrupt.ConfigChange, _driver.R(0x60));
    }

    [Fact]
    public void InterruptACK_clears_the_bits_it_names()
    {
        _driver.Interrupt.SignalUsedBuffers();
        _driver.Interrupt.SignalNeedsReset();
        _driver.W(0x64, VirtioInterrupt.UsedBuffer);
        Assert.Equal(VirtioInterrupt.ConfigChange, _driver.R(0x60));
    }
}
