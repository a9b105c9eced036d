using System.Buffers.Binary;

namespace Ferry.Vmm.Boot;

/// <summary>
/// struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h), version 1, with its
/// module list and memory map: what a PVH kernel finds through EBX at entry.
/// </summary>
public static class HvmStartInfo
{
    public const uint Magic = 0x336ec578;
    public const int Size = 56;
    public const int ModlistEntrySize = 32;
    public const int MemmapEntrySize = 24;

    /// <summary>Writes start_info (at BootLayout.HvmStartInfo), the modlist and the memmap, as (gpa, bytes) pairs.</summary>
    public static IEnumerable<(ulong Gpa, byte[] Bytes)> Build(ulong cmdlinePaddr, ulong rsdpPaddr,
        (ulong Address, ulong Size)? initrd, IReadOnlyList<E820Entry> memmap)
    {
        if (memmap.Count > BootLayout.HvmMemmapCapacity) throw new ArgumentException("memory map too long", nameof(memmap));
        var info = new byte[Size];
        var s = info.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], 1);                       // version
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], initrd is null ? 0u : 1u); // nr_modules
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], initrd is null ? 0 : BootLayout.HvmModlist);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], cmdlinePaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], rsdpPaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], BootLayout.HvmMemmap);
        BinaryPrimitives.WriteUInt32LittleEndian(s[48..], (uint)memmap.Count);
        yield return (BootLayout.HvmStartInfo, info);

        if (initrd is { } module)
        {
            var entry = new byte[ModlistEntrySize];
            BinaryPrimitives.WriteUInt64LittleEndian(entry, module.Address);
            BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(8), module.Size);
            yield return (BootLayout.HvmModlist, entry);
        }

        var table = new byte[memmap.Count * MemmapEntrySize];
        for (int i = 0; i < memmap.Count; i++)
        {
            var e = table.AsSpan(i * MemmapEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(e, memmap[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], memmap[i].SizeBytes);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)memmap[i].Type);
        }
        yield return (BootLayout.HvmMemmap, table);
    }
}
