using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Ferry.Vmm.State;

/// <summary>Reads what StateWriter wrote; any mismatch is an InvalidDataException naming the field.</summary>
public ref struct StateReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    public ReadOnlySpan<byte> Blob(string what) => Take((int)Math.Min(U32(what), int.MaxValue), what);

    public T Struct<T>(string what) where T : unmanaged
    {
        var bytes = Blob(what);
        if (bytes.Length != Marshal.SizeOf<T>()) throw new InvalidDataException($"{what}: {bytes.Length} bytes, expected {Marshal.SizeOf<T>()}");
        return MemoryMarshal.Read<T>(bytes);
    }

    public readonly bool AtEnd => _rest.IsEmpty;

    private ReadOnlySpan<byte> Take(int length, string what)
    {
        if (length < 0 || length > _rest.Length) throw new InvalidDataException($"VM state ends inside {what}");
        var taken = _rest[..length];
        _rest = _rest[length..];
        return taken;
    }
}
