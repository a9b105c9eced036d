using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Vm;

public sealed class PageSetTests
{
    [Fact]
    public void Added_pages_are_listed_in_order_and_counted()
    {
        var set = new PageSet(new MemoryRegion(0x100000, 1 << 20), 4096);
        Assert.Equal(256, set.PageCount);
        foreach (long p in new long[] { 200, 3, 64, 63, 255 }) set.Add(p);
        Assert.Equal([3, 63, 64, 200, 255], set.Pages());
        Assert.Equal(5, set.Count());
        Assert.True(set.Contains(64));
        Assert.False(set.Contains(65));
    }

    [Fact]
    public void Layout_totals_its_regions()
    {
        var layout = new GuestMemoryLayout([new MemoryRegion(0, 3UL << 30), new MemoryRegion(4UL << 30, 1UL << 30)], 4096);
        Assert.Equal(4UL << 30, layout.TotalBytes);
        Assert.Equal((4UL << 30) / 4096, layout.TotalPages);
    }
}
