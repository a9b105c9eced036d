using Ferry.Vmm.Devices;

namespace Ferry.Vmm.Tests.Devices;

public sealed class MmioBusTests
{
    private sealed class Recorder : IMmioDevice
    {
        public List<(ulong Offset, int Length)> Writes { get; } = [];
        public void Read(ulong offset, Span<byte> data) => data.Fill((byte)offset);
        public void Write(ulong offset, ReadOnlySpan<byte> data) => Writes.Add((offset, data.Length));
    }

    [Fact]
    public void Accesses_reach_the_device_at_their_offset_and_elsewhere_read_all_ones()
    {
        var bus = new MmioBus();
        var device = new Recorder();
        bus.Add(0xd000_0000, 0x1000, device);
        var data = new byte[4];
        bus.Read(0xd000_0070, data);
        Assert.Equal(new byte[] { 0x70, 0x70, 0x70, 0x70 }, data);
        bus.Write(0xd000_0050, new byte[4]);
        Assert.Equal([(0x50UL, 4)], device.Writes);
        bus.Read(0xd000_1000, data);
        Assert.Equal(new byte[] { 0xff, 0xff, 0xff, 0xff }, data);
        bus.Read(0xd000_0ffe, data); // straddles the window's end: nobody's
        Assert.Equal(new byte[] { 0xff, 0xff, 0xff, 0xff }, data);
        bus.Write(0xd000_2000, new byte[4]);
        Assert.Single(device.Writes);
    }

    [Fact]
    public void Overlapping_windows_are_refused()
    {
        var bus = new MmioBus();
        bus.Add(0x1000, 0x1000, new Recorder());
        Assert.Throws<InvalidOperationException>(() => bus.Add(0x1800, 0x1000, new Recorder()));
    }
}
