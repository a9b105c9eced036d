using Ferry.Vmm.Memory;

namespace Ferry.Vmm.Boot;

/// <summary>The memory map handed to the guest: RAM, with the legacy hole and the ACPI area carved out.</summary>
public static class E820Map
{
    public static IReadOnlyList<E820Entry> For(GuestMemoryMap map)
    {
        var entries = new List<E820Entry>
        {
            new(0, BootLayout.LowRamEnd, E820Type.Ram),
            new(BootLayout.AcpiStart, BootLayout.AcpiEnd - BootLayout.AcpiStart, E820Type.Reserved),
            new(BootLayout.HighMemoryStart, map.LowRamEnd - BootLayout.HighMemoryStart, E820Type.Ram),
        };
        foreach (var region in map.Regions.Skip(1)) entries.Add(new(region.Gpa, region.SizeBytes, E820Type.Ram));
        return entries;
    }

    /// <summary>Usable RAM in MiB, rounded down: what the test guest's ready line reports.</summary>
    public static ulong UsableMiB(IEnumerable<E820Entry> entries) =>
        entries.Where(e => e.Type == E820Type.Ram).Aggregate(0UL, (sum, e) => sum + e.SizeBytes) >> 20;
}
