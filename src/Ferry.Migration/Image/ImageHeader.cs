using System.Buffers.Binary;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Image;

/// <summary>
/// The Header section: magic, format version and the memory layout. The version rule: a reader
/// accepts exactly the versions it knows; a change to any section's meaning raises it.
/// </summary>
public static class ImageHeader
{
    public const ulong Magic = 0x474d_4959_5252_4546; // "FERRYIMG"
    public const uint Version = 1;
    private const int MaxRegions = 64;

    public static byte[] Encode(GuestMemoryLayout layout)
    {
        var b = new byte[24 + layout.Regions.Count * 16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (uint)layout.PageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), (uint)layout.Regions.Count);
        for (int i = 0; i < layout.Regions.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24 + i * 16), layout.Regions[i].Gpa);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32 + i * 16), layout.Regions[i].SizeBytes);
        }
        return b;
    }

    public static GuestMemoryLayout Decode(ReadOnlySpan<byte> b)
    {
        if (b.Length < 24 || BinaryPrimitives.ReadUInt64LittleEndian(b) != Magic)
            throw new ProtocolException("not a Ferry VM image (bad magic in the header section)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        if (version != Version)
            throw new ProtocolException($"VM image format version {version} is not supported by this ferry (it reads version {Version})");
        int pageSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
        if (pageSize != 4096 || count == 0 || count > MaxRegions || b.Length != 24 + count * 16)
            throw new ProtocolException("the header section is malformed");
        var regions = new List<MemoryRegion>();
        for (int i = 0; i < count; i++)
            regions.Add(new MemoryRegion(BinaryPrimitives.ReadUInt64LittleEndian(b[(24 + i * 16)..]), BinaryPrimitives.ReadUInt64LittleEndian(b[(32 + i * 16)..])));
        return new GuestMemoryLayout(regions, pageSize);
    }

    public static bool SameLayout(GuestMemoryLayout a, GuestMemoryLayout b) =>
        a.PageSize == b.PageSize && a.Regions.SequenceEqual(b.Regions);
}
