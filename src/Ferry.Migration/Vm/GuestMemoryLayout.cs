namespace Ferry.Migration.Vm;

/// <summary>Guest RAM as the migration engine sees it: its regions, in ascending address order, and the page size.</summary>
public sealed record GuestMemoryLayout(IReadOnlyList<MemoryRegion> Regions, int PageSize)
{
    public ulong TotalBytes => Regions.Aggregate(0UL, (sum, r) => sum + r.SizeBytes);
    public ulong TotalPages => TotalBytes / (ulong)PageSize;
}
