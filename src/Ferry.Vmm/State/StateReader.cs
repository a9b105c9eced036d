using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Ferry.Vmm.State;

/// <summary>
/// Reads what StateWriter wrote; any mismatch is an InvalidDataException naming the field.
/// <paramref name="whole"/> names what is being read in the message for bytes that run out.
/// </summary>
public ref struct StateReader(ReadOnlySpan<byte> data, string whole = "VM state")
{
    private ReadOnlySpan<byte> _rest = data;

    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>A u32 field that holds something smaller (a register byte, a flag): a larger value is refused.</summary>
    public uint U32AtMost(uint max, string what)
    {
        uint value = U32(what);
        if (value > max) throw new InvalidDataException($"{what} is {value}, at most {max}");
        return value;
    }

    public ReadOnlySpan<byte> Blob(string what) => Take((int)Math.Min(U32(what), int.MaxValue), what);

    public T Struct<T>(string what) where T : unmanaged
    {
        var bytes = Blob(what);
        if (bytes.Length != Marshal.SizeOf<T>()) throw new InvalidDataException($"{what}: {bytes.Length} bytes, expected {Marshal.SizeOf<T>()}");
        return MemoryMarshal.Read<T>(bytes);
    }

    /// <summary>Everything not read yet.</summary>
    public ReadOnlySpan<byte> Rest()
    {
        var rest = _rest;
        _rest = default;
        return rest;
    }

    public readonly bool AtEnd => _rest.IsEmpty;

    public readonly int Remaining => _rest.Length;

    private ReadOnlySpan<byte> Take(int length, string what)
    {
        if (length < 0 || length > _rest.Length) throw new InvalidDataException($"{whole} ends inside {what}");
        var taken = _rest[..length];
        _rest = _rest[length..];
        return taken;
    }
}
