using Ferry.Migration.Vm;

namespace Ferry.Vmm.Devices.Virtio.Blk;

/// <summary>
/// The blocks of an image the guest changed (writes and discards) while a `--copy-storage`
/// migration copies it. The disk marks a range after the bytes reach the file, so a block the
/// engine reads while a write to it is in flight is marked again and sent again.
/// </summary>
public sealed class DiskWriteLog(DiskImage disk, int blockBytes) : IDiskWriteLog
{
    private readonly ulong[] _bits = new ulong[((disk.SizeBytes + blockBytes - 1) / blockBytes + 63) / 64];

    public void Mark(long offset, long length)
    {
        if (length <= 0) return;
        long last = Math.Min((offset + length - 1) / blockBytes, (disk.SizeBytes - 1) / blockBytes);
        for (long b = offset / blockBytes; b <= last; b++)
            Interlocked.Or(ref _bits[b >> 6], 1UL << (int)(b & 63));
    }

    public void CollectInto(ulong[] blocks)
    {
        for (int i = 0; i < _bits.Length && i < blocks.Length; i++)
            if (Volatile.Read(ref _bits[i]) != 0) blocks[i] |= Interlocked.Exchange(ref _bits[i], 0);
    }

    public void Dispose() => disk.StopWriteLog(this);
}
