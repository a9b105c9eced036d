using Ferry.Migration.Vm;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm.Tests.Memory;

public sealed class GuestMemoryMapTests
{
    [Fact]
    public void Up_to_3_GiB_is_one_region() =>
        Assert.Equal([new MemoryRegion(0, 3UL << 30)], new GuestMemoryMap(3UL << 30).Regions);

    [Fact]
    public void Beyond_3_GiB_the_rest_starts_at_4_GiB()
    {
        var map = new GuestMemoryMap(8UL << 30);
        Assert.Equal([new MemoryRegion(0, 3UL << 30), new MemoryRegion(4UL << 30, 5UL << 30)], map.Regions);
        Assert.Equal((long)(3UL << 30), map.HostOffset(4UL << 30));
        Assert.Equal(-1, map.HostOffset(3UL << 30));
    }

    [Theory]
    [InlineData(1UL << 20)]
    [InlineData((64UL << 20) + 4096)]
    [InlineData(2UL << 40)]
    public void Refuses_sizes_it_cannot_describe(ulong bytes) =>
        Assert.Throws<VmConfigException>(() => new GuestMemoryMap(bytes));
}
