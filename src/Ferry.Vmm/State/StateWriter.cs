using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Ferry.Vmm.State;

/// <summary>Appends VM state as little-endian fields and length-prefixed blobs.</summary>
public sealed class StateWriter
{
    private readonly MemoryStream _stream = new();

    public void U32(uint value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); _stream.Write(b); }
    public void U64(ulong value) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); _stream.Write(b); }

    public void Blob(ReadOnlySpan<byte> bytes)
    {
        U32((uint)bytes.Length);
        _stream.Write(bytes);
    }

    /// <summary>An unmanaged kernel struct, byte for byte as KVM gave it.</summary>
    public void Struct<T>(T value) where T : unmanaged => Blob(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    public byte[] ToArray() => _stream.ToArray();
}
