using System.Buffers;

namespace Ferry.Kvm;

/// <summary>
/// A range of native memory (a slice of a host mapping) as a <see cref="Memory{T}"/>, so async
/// socket reads and writes can use guest RAM itself instead of a managed copy. It owns nothing:
/// the mapping must outlive every use of the memory it hands out.
/// </summary>
internal sealed unsafe class NativeMemoryRange(byte* start, int length) : MemoryManager<byte>
{
    public override Span<byte> GetSpan() => new(start, length);

    // Native memory never moves: pinning is a no-op.
    public override MemoryHandle Pin(int elementIndex = 0) => new(start + elementIndex);

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }
}
