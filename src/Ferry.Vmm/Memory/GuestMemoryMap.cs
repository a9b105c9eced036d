using Ferry.Migration.Vm;

namespace Ferry.Vmm.Memory;

/// <summary>
/// Where guest RAM sits in guest-physical space. RAM fills [0, 3 GiB); the rest starts at 4 GiB,
/// leaving the top gigabyte below 4 GiB for the IOAPIC, the local APICs and other device
/// windows, as on a PC. Each RAM region is one KVM memory slot, laid out back to back in one
/// host mapping.
/// </summary>
public sealed class GuestMemoryMap
{
    public const ulong MmioHoleStart = 3UL << 30;
    public const ulong HighRamStart = 4UL << 30;
    public const ulong MinimumBytes = 64UL << 20;
    /// <summary>The largest guest we describe; beyond it page-table and slot sizes would need review.</summary>
    public const ulong MaximumBytes = 1UL << 40;

    public GuestMemoryMap(ulong sizeBytes)
    {
        if (sizeBytes < MinimumBytes)
            throw new VmConfigException($"memory {sizeBytes >> 20} MiB is too small: a guest needs at least {MinimumBytes >> 20} MiB");
        if (sizeBytes > MaximumBytes)
            throw new VmConfigException($"memory {sizeBytes >> 30} GiB is more than Ferry supports ({MaximumBytes >> 30} GiB)");
        if (sizeBytes % (2UL << 20) != 0)
            throw new VmConfigException("memory must be a multiple of 2 MiB");
        SizeBytes = sizeBytes;
        ulong low = Math.Min(sizeBytes, MmioHoleStart);
        var regions = new List<MemoryRegion> { new(0, low) };
        if (sizeBytes > low) regions.Add(new MemoryRegion(HighRamStart, sizeBytes - low));
        Regions = regions;
    }

    public ulong SizeBytes { get; }
    public IReadOnlyList<MemoryRegion> Regions { get; }

    /// <summary>The end of RAM below 4 GiB: where boot loaders put the initrd.</summary>
    public ulong LowRamEnd => Regions[0].EndGpa;

    /// <summary>Offset of <paramref name="gpa"/> in the host mapping, or -1 outside RAM.</summary>
    public long HostOffset(ulong gpa)
    {
        ulong offset = 0;
        foreach (var region in Regions)
        {
            if (region.Contains(gpa)) return (long)(offset + (gpa - region.Gpa));
            offset += region.SizeBytes;
        }
        return -1;
    }
}
