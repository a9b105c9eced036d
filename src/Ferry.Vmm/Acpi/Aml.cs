using System.Text;

namespace Ferry.Vmm.Acpi;

/// <summary>
/// The few AML encodings (ACPI 6.x §20) Ferry's DSDT needs: names, integers, strings, buffers,
/// packages' length prefix, Scope and Device, and the two resource descriptors of a virtio-mmio
/// device. Each returns the encoded bytes; golden-bytes tests pin them.
/// </summary>
public static class Aml
{
    private const byte ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08, BytePrefix = 0x0a, WordPrefix = 0x0b, DWordPrefix = 0x0c,
        StringPrefix = 0x0d, ScopeOp = 0x10, BufferOp = 0x11, ExtOpPrefix = 0x5b, DeviceOp = 0x82, RootChar = 0x5c;

    /// <summary>PkgLength for <paramref name="contentBytes"/> following it; the encoded length counts itself.</summary>
    public static byte[] PkgLength(int contentBytes)
    {
        if (contentBytes + 1 <= 0x3f) return [(byte)(contentBytes + 1)];
        int total = contentBytes + 2;
        if (total <= 0xfff) return [(byte)(0x40 | (total & 0xf)), (byte)(total >> 4)];
        total = contentBytes + 3;
        if (total <= 0xfffff) return [(byte)(0x80 | (total & 0xf)), (byte)(total >> 4), (byte)(total >> 12)];
        throw new ArgumentOutOfRangeException(nameof(contentBytes), "AML package too large");
    }

    /// <summary>A 4-character NameSeg (A-Z, 0-9, '_'; padded with '_').</summary>
    public static byte[] NameSeg(string name)
    {
        if (name.Length is 0 or > 4 || !name.All(c => c is >= 'A' and <= 'Z' or >= '0' and <= '9' or '_') || char.IsDigit(name[0]))
            throw new ArgumentException($"{name} is not an ACPI name segment", nameof(name));
        return Encoding.ASCII.GetBytes(name.PadRight(4, '_'));
    }

    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        <= 0xff => [BytePrefix, (byte)value],
        <= 0xffff => [WordPrefix, (byte)value, (byte)(value >> 8)],
        <= 0xffff_ffff => [DWordPrefix, (byte)value, (byte)(value >> 8), (byte)(value >> 16), (byte)(value >> 24)],
        _ => throw new ArgumentOutOfRangeException(nameof(value), "QWord integers are not needed"),
    };

    public static byte[] String(string value) => [StringPrefix, .. Encoding.ASCII.GetBytes(value), 0];

    /// <summary>Name (NAME, value).</summary>
    public static byte[] Name(string name, byte[] value) => [NameOp, .. NameSeg(name), .. value];

    /// <summary>Buffer () { bytes }.</summary>
    public static byte[] Buffer(byte[] bytes)
    {
        byte[] body = [.. Integer((ulong)bytes.Length), .. bytes];
        return [BufferOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Scope (\NAME) { terms }, for a name at the root.</summary>
    public static byte[] RootScope(string name, byte[] terms)
    {
        byte[] body = [RootChar, .. NameSeg(name), .. terms];
        return [ScopeOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Device (NAME) { terms }.</summary>
    public static byte[] Device(string name, byte[] terms)
    {
        byte[] body = [.. NameSeg(name), .. terms];
        return [ExtOpPrefix, DeviceOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Memory32Fixed (ReadWrite, base, length): a 32-bit fixed memory range descriptor (§6.4.3.4).</summary>
    public static byte[] Memory32Fixed(uint baseAddress, uint length) =>
        [0x86, 9, 0, 1 /* read-write */, .. Le32(baseAddress), .. Le32(length)];

    /// <summary>Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }: an extended interrupt descriptor (§6.4.3.6).</summary>
    public static byte[] EdgeInterrupt(uint gsi) =>
        [0x89, 6, 0, 0x03 /* consumer, edge, active high, exclusive */, 1, .. Le32(gsi)];

    /// <summary>A resource template's end tag (checksum 0: "treat as correct").</summary>
    public static byte[] EndTag() => [0x79, 0];

    private static byte[] Le32(uint v) => [(byte)v, (byte)(v >> 8), (byte)(v >> 16), (byte)(v >> 24)];
}
