using System.Buffers.Binary;

namespace Ferry.Tests.Shared;

/// <summary>
/// Builds a minimal x86-64 ELF kernel: one PT_LOAD of <c>code</c> at <c>loadAddress</c> and,
/// optionally, a PT_NOTE holding XEN_ELFNOTE_PHYS32_ENTRY, the PVH entry point.
/// </summary>
public static class TestElf
{
    public static byte[] Kernel(byte[] code, bool withPvhNote, ulong loadAddress = 0x100000, uint entry = 0x100000, ulong memorySize = 0x1000)
    {
        var f = new byte[0x400];
        var s = f.AsSpan();
        s[0] = 0x7f; "ELF"u8.CopyTo(s[1..]); s[4] = 2; s[5] = 1; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 62);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 64);            // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], 56);            // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)(withPvhNote ? 2 : 1));
        var load = s.Slice(64, 56);
        BinaryPrimitives.WriteUInt32LittleEndian(load, 1);                // PT_LOAD
        BinaryPrimitives.WriteUInt64LittleEndian(load[8..], 0x200);       // p_offset
        BinaryPrimitives.WriteUInt64LittleEndian(load[24..], loadAddress); // p_paddr
        BinaryPrimitives.WriteUInt64LittleEndian(load[32..], (ulong)code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(load[40..], memorySize);
        code.CopyTo(s[0x200..]);
        if (withPvhNote)
        {
            var note = s.Slice(120, 56);
            BinaryPrimitives.WriteUInt32LittleEndian(note, 4);            // PT_NOTE
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
}
