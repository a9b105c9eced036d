using System.Buffers.Binary;
using Ferry.Vmm.Boot;

namespace Ferry.Vmm.Tests.Boot;

public sealed class PvhElfKernelTests
{
    /// <summary>An ELF64 with one PT_LOAD at 1 MiB and, optionally, a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY.</summary>
    internal static byte[] Elf(bool withNote, uint entry = 0x100040)
    {
        var f = new byte[0x400];
        var s = f.AsSpan();
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F'; s[4] = 2; s[5] = 1; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 62);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 64);            // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], 56);            // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)(withNote ? 2 : 1));
        var load = s.Slice(64, 56);
        BinaryPrimitives.WriteUInt32LittleEndian(load, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(load[8..], 0x200);       // p_offset
        BinaryPrimitives.WriteUInt64LittleEndian(load[24..], 0x100000);   // p_paddr
        BinaryPrimitives.WriteUInt64LittleEndian(load[32..], 0x100);      // p_filesz
        BinaryPrimitives.WriteUInt64LittleEndian(load[40..], 0x2000);     // p_memsz
        if (withNote)
        {
            var note = s.Slice(120, 56);
            BinaryPrimitives.WriteUInt32LittleEndian(note, 4);
            BinaryPrimitives.WriteUInt64LittleEndian(note[8..], 0x300);
            BinaryPrimitives.WriteUInt64LittleEndian(note[32..], 20);
            BinaryPrimitives.WriteUInt64LittleEndian(note[40..], 20);
            var n = s[0x300..];
            BinaryPrimitives.WriteUInt32LittleEndian(n, 4);               // namesz "Xen\0"
            BinaryPrimitives.WriteUInt32LittleEndian(n[4..], 4);          // descsz
            BinaryPrimitives.WriteUInt32LittleEndian(n[8..], 18);         // XEN_ELFNOTE_PHYS32_ENTRY
            "Xen\0"u8.CopyTo(n[12..]);
            BinaryPrimitives.WriteUInt32LittleEndian(n[16..], entry);
        }
        return f;
    }

    [Fact]
    public void Finds_the_pvh_entry_and_the_loadable_segment()
    {
        var k = PvhElfKernel.Parse(Elf(withNote: true), "k");
        Assert.Equal(0x100040u, k.Entry);
        Assert.Equal([new ElfSegment(0x200, 0x100000, 0x100, 0x2000)], k.Segments);
        Assert.Equal(0x102000UL, k.EndAddress);
    }

    [Fact]
    public void Refuses_an_elf_without_a_pvh_note() =>
        Assert.Contains("no PVH entry note", Assert.Throws<VmConfigException>(() => PvhElfKernel.Parse(Elf(withNote: false), "k")).Message);

    [Fact]
    public void Refuses_a_truncated_elf() =>
        Assert.Throws<VmConfigException>(() => PvhElfKernel.Parse(Elf(withNote: true).AsSpan(0, 0x280), "k"));
}
