using System.Buffers.Binary;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>Small kernels made on the spot for the error paths.</summary>
public static class BrokenKernels
{
    /// <summary>A PVH ELF whose first instruction is ud2 with no IDT: #UD, #DF, then a triple fault.</summary>
    public static byte[] TripleFault() => PvhElf(code: [0x0f, 0x0b], withNote: true);

    /// <summary>An ELF kernel without a PVH note.</summary>
    public static byte[] WithoutPvhNote() => PvhElf(code: [0xf4], withNote: false);

    private static byte[] PvhElf(byte[] code, bool withNote)
    {
        const uint Entry = 0x100000;
        var f = new byte[0x400];
        var s = f.AsSpan();
        "\x7f"u8.CopyTo(s); "ELF"u8.CopyTo(s[1..]); s[4] = 2; s[5] = 1; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 62);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)(withNote ? 2 : 1));
        var load = s.Slice(64, 56);
        BinaryPrimitives.WriteUInt32LittleEndian(load, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(load[8..], 0x200);
        BinaryPrimitives.WriteUInt64LittleEndian(load[24..], Entry);
        BinaryPrimitives.WriteUInt64LittleEndian(load[32..], (ulong)code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(load[40..], 0x1000);
        code.CopyTo(s[0x200..]);
        if (withNote)
        {
            var note = s.Slice(120, 56);
            BinaryPrimitives.WriteUInt32LittleEndian(note, 4);
            BinaryPrimitives.WriteUInt64LittleEndian(note[8..], 0x300);
            BinaryPrimitives.WriteUInt64LittleEndian(note[32..], 20);
            BinaryPrimitives.WriteUInt64LittleEndian(note[40..], 20);
            var n = s[0x300..];
            BinaryPrimitives.WriteUInt32LittleEndian(n, 4);
            BinaryPrimitives.WriteUInt32LittleEndian(n[4..], 4);
            BinaryPrimitives.WriteUInt32LittleEndian(n[8..], 18);
            "Xen\0"u8.CopyTo(n[12..]);
            BinaryPrimitives.WriteUInt32LittleEndian(n[16..], Entry);
        }
        return f;
    }
}
