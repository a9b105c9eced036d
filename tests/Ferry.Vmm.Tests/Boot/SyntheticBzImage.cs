using System.Buffers.Binary;

namespace Ferry.Vmm.Tests.Boot;

/// <summary>A minimal file with a valid bzImage setup header, for parser tests.</summary>
public static class SyntheticBzImage
{
    public static byte[] Create(ushort version = 0x020f, ushort xloadflags = 1, byte setupSects = 4, int payloadBytes = 4096)
    {
        var file = new byte[(setupSects + 1) * 512 + payloadBytes];
        var s = file.AsSpan();
        s[0x1f1] = setupSects;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1fe..], 0xaa55);
        s[0x201] = 0x66; // header length: through init_size
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x202..], 0x53726448);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], version);
        s[0x211] = 1; // LOADED_HIGH
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22c..], 0x7fffffff);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x230..], 0x200000);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x236..], xloadflags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], 2047);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x258..], 0x1000000);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x260..], 0x800000);
        return file;
    }
}
