using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Infrastructure;

/// <summary>
/// A disk image in an array for <see cref="SimulatedVm"/>: 4 KiB pieces count as allocated once
/// written (the rest are holes), and a write log marks written blocks after the bytes land, as
/// the virtio-blk device does.
/// </summary>
public sealed class SimulatedDisk(long sizeBytes) : IMigratableDisk
{
    private const int Piece = 4096;
    private readonly byte[] _bytes = new byte[sizeBytes];
    private readonly bool[] _allocated = new bool[(sizeBytes + Piece - 1) / Piece];
    private readonly object _lock = new();
    private WriteLog? _log;

    public long SizeBytes => sizeBytes;
    public byte[] Bytes => _bytes;
    public int Flushes;

    public IReadOnlyList<(long Offset, long Length)> DataExtents()
    {
        var extents = new List<(long, long)>();
        lock (_lock)
        {
            for (long p = 0; p < _allocated.Length; p++)
            {
                if (!_allocated[p]) continue;
                long start = p;
                while (p + 1 < _allocated.Length && _allocated[p + 1]) p++;
                extents.Add((start * Piece, Math.Min((p + 1) * Piece, sizeBytes) - start * Piece));
            }
        }
        return extents;
    }

    public void Read(long offset, Span<byte> destination)
    {
        lock (_lock) _bytes.AsSpan((int)offset, destination.Length).CopyTo(destination);
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        lock (_lock)
        {
            source.CopyTo(_bytes.AsSpan((int)offset));
            for (long p = offset / Piece; p <= (offset + source.Length - 1) / Piece; p++) _allocated[p] = true;
        }
        _log?.Mark(offset, source.Length);
    }

    public void Flush() => Interlocked.Increment(ref Flushes);

    private volatile IDiskBlockGate? _gate;
    public void SetPostCopyGate(IDiskBlockGate? gate) => _gate = gate;
    public bool Gated => _gate is not null;

    /// <summary>The guest's read, as the device makes it: through the post-copy gate, if any.</summary>
    public void GuestRead(long offset, Span<byte> destination)
    {
        _gate?.BeforeRead(offset, destination.Length);
        Read(offset, destination);
    }

    /// <summary>The guest's write, as the device makes it: through the post-copy gate, if any.</summary>
    public void GuestWrite(long offset, ReadOnlySpan<byte> source)
    {
        _gate?.BeforeWrite(offset, source.Length);
        Write(offset, source);
    }

    public IDiskWriteLog StartWriteLog(int blockBytes) => _log = new WriteLog(this, blockBytes);

    public bool WriteLogActive => _log is not null;

    private sealed class WriteLog(SimulatedDisk disk, int blockBytes) : IDiskWriteLog
    {
        private readonly ulong[] _bits = new ulong[((disk.SizeBytes + blockBytes - 1) / blockBytes + 63) / 64];

        public void Mark(long offset, int length)
        {
            for (long b = offset / blockBytes; b <= (offset + length - 1) / blockBytes; b++)
                Interlocked.Or(ref _bits[b >> 6], 1UL << (int)(b & 63));
        }

        public void CollectInto(ulong[] blocks)
        {
            for (int i = 0; i < _bits.Length; i++) blocks[i] |= Interlocked.Exchange(ref _bits[i], 0);
        }

        public void Dispose() => disk._log = null;
    }
}
