using System.Buffers.Binary;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// The PostCopyPages section: for each region of guest RAM, the bitmap of pages still at the
/// source. Decoding checks it against the layout the destination built, so a hostile stream can
/// name no page outside guest RAM.
/// </summary>
public static class PostCopyPages
{
    public static byte[] Encode(IReadOnlyList<PageSet> fetch)
    {
        int size = 4 + fetch.Sum(s => 16 + s.Bits.Length * 8);
        var b = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)fetch.Count);
        int at = 4;
        foreach (var set in fetch)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), set.Region.Gpa);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at + 8), (ulong)set.PageCount);
            at += 16;
            foreach (ulong word in set.Bits) { BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), word); at += 8; }
        }
        return b;
    }

    public static IReadOnlyList<PageSet> Decode(ReadOnlySpan<byte> b, GuestMemoryLayout layout)
    {
        if (b.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(b) != layout.Regions.Count)
            throw new ProtocolException("the post-copy pages section does not match the guest's memory regions");
        var sets = new List<PageSet>();
        int at = 4;
        foreach (var region in layout.Regions)
        {
            var set = new PageSet(region, layout.PageSize);
            if (b.Length < at + 16 || BinaryPrimitives.ReadUInt64LittleEndian(b[at..]) != region.Gpa
                || BinaryPrimitives.ReadUInt64LittleEndian(b[(at + 8)..]) != (ulong)set.PageCount || b.Length < at + 16 + set.Bits.Length * 8)
                throw new ProtocolException($"the post-copy pages section does not match the region at 0x{region.Gpa:x}");
            at += 16;
            for (int w = 0; w < set.Bits.Length; w++, at += 8) set.Bits[w] = BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
            // Bits past the region's last page would name pages that do not exist.
            int tail = (int)(set.PageCount & 63);
            if (tail != 0 && (set.Bits[^1] >> tail) != 0) throw new ProtocolException("the post-copy pages section names pages past the end of a region");
            sets.Add(set);
        }
        if (at != b.Length) throw new ProtocolException("the post-copy pages section has trailing bytes");
        return sets;
    }
}
