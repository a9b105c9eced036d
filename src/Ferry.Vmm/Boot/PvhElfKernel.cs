using System.Buffers.Binary;
using System.Text;

namespace Ferry.Vmm.Boot;

/// <summary>
/// An ELF64 kernel with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY). Its PT_LOAD segments are
/// copied to their physical addresses and the vCPU starts in 32-bit protected mode at the
/// note's entry point (the Xen PVH boot ABI, which QEMU and Cloud Hypervisor also use).
/// </summary>
public sealed class PvhElfKernel
{
    private const uint XenElfNotePhys32Entry = 18;
    private const uint PtLoad = 1, PtNote = 4;

    private PvhElfKernel(uint entry, IReadOnlyList<ElfSegment> segments) { Entry = entry; Segments = segments; }

    public uint Entry { get; }
    public IReadOnlyList<ElfSegment> Segments { get; }
    public ulong EndAddress => Segments.Max(s => s.PhysicalAddress + s.MemorySize);

    public static bool LooksLikeElf(ReadOnlySpan<byte> file) =>
        file.Length >= 4 && file[0] == 0x7f && file[1] == (byte)'E' && file[2] == (byte)'L' && file[3] == (byte)'F';

    /// <summary>Parses the ELF headers; throws VmConfigException naming what is wrong.</summary>
    public static PvhElfKernel Parse(ReadOnlySpan<byte> file, string name)
    {
        if (!LooksLikeElf(file) || file.Length < 64) throw new VmConfigException($"{name}: not an ELF file");
        if (file[4] != 2 || file[5] != 1) throw new VmConfigException($"{name}: not a 64-bit little-endian ELF");
        if (BinaryPrimitives.ReadUInt16LittleEndian(file[18..]) != 62) throw new VmConfigException($"{name}: not an x86-64 ELF");
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(file[32..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(file[54..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(file[56..]);
        if (phentsize < 56 || phoff + (ulong)(phentsize * phnum) > (ulong)file.Length)
            throw new VmConfigException($"{name}: corrupt ELF program headers");

        uint? entry = null;
        var segments = new List<ElfSegment>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = file.Slice((int)phoff + i * phentsize, phentsize);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
            ulong paddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]);
            ulong filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
            ulong memsz = BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]);
            if (offset + filesz > (ulong)file.Length || filesz > memsz)
                throw new VmConfigException($"{name}: ELF segment {i} lies outside the file (truncated?)");
            if (type == PtLoad && memsz > 0) segments.Add(new ElfSegment(offset, paddr, filesz, memsz));
            if (type == PtNote) entry ??= FindPvhEntry(file.Slice((int)offset, (int)filesz));
        }
        if (entry is null)
            throw new VmConfigException($"{name}: ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); build it with PVH support or pass a bzImage");
        if (segments.Count == 0) throw new VmConfigException($"{name}: ELF kernel has no loadable segment");
        return new PvhElfKernel(entry.Value, segments);
    }

    private static uint? FindPvhEntry(ReadOnlySpan<byte> notes)
    {
        while (notes.Length >= 12)
        {
            int nameSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes);
            int descSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes[4..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(notes[8..]);
            int nameEnd = 12 + Align4(nameSize), descEnd = nameEnd + Align4(descSize);
            if (nameSize < 0 || descSize < 0 || descEnd > notes.Length) return null;
            var noteName = notes.Slice(12, nameSize).TrimEnd((byte)0);
            if (type == XenElfNotePhys32Entry && Encoding.ASCII.GetString(noteName) == "Xen" && descSize >= 4)
                return BinaryPrimitives.ReadUInt32LittleEndian(notes[nameEnd..]);
            notes = notes[descEnd..];
        }
        return null;
    }

    private static int Align4(int n) => (n + 3) & ~3;
}
