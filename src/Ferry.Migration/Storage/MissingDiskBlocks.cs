using System.Buffers.Binary;

namespace Ferry.Migration.Storage;

/// <summary>
/// The PostCopyDiskBlocks section: for each copied disk, the bitmap of its blocks (of
/// <see cref="DiskCopy.BlockBytes"/>) the destination does not hold yet,
/// <c>u32 disks | u32 0 | (u64 blocks | u64 words[])*</c>. It follows PostCopyPages at a
/// post-copy switchover and at every reconnection. Decoding checks it against the sizes the
/// DiskImages section announced, so a hostile stream names no block outside a disk.
/// </summary>
public static class MissingDiskBlocks
{
    public static byte[] Encode(IReadOnlyList<ulong[]> missing, IReadOnlyList<long> sizes)
    {
        var b = new byte[8 + missing.Sum(m => 8 + m.Length * 8)];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)missing.Count);
        int at = 8;
        for (int d = 0; d < missing.Count; d++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), DiskCopy.BlockCount(sizes[d]));
            at += 8;
            foreach (ulong word in missing[d]) { BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), word); at += 8; }
        }
        return b;
    }

    public static ulong[][] Decode(ReadOnlySpan<byte> b, IReadOnlyList<long> sizes)
    {
        if (b.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(b) != sizes.Count || BinaryPrimitives.ReadUInt32LittleEndian(b[4..]) != 0)
            throw new ProtocolException("the post-copy disk blocks section does not match the disks the source copies");
        var missing = new ulong[sizes.Count][];
        int at = 8;
        for (int d = 0; d < sizes.Count; d++)
        {
            long blocks = DiskCopy.BlockCount(sizes[d]);
            int words = (int)((blocks + 63) / 64);
            if (b.Length < at + 8 || BinaryPrimitives.ReadInt64LittleEndian(b[at..]) != blocks || b.Length < at + 8 + words * 8)
                throw new ProtocolException($"the post-copy disk blocks section does not match disk {d} ({sizes[d]} bytes)");
            at += 8;
            missing[d] = new ulong[words];
            for (int w = 0; w < words; w++, at += 8) missing[d][w] = BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
            int tail = (int)(blocks & 63);
            if (tail != 0 && (missing[d][^1] >> tail) != 0) throw new ProtocolException($"the post-copy disk blocks section names blocks past the end of disk {d}");
        }
        if (at != b.Length) throw new ProtocolException("the post-copy disk blocks section has trailing bytes");
        return missing;
    }
}
