using System.Buffers.Binary;

namespace Ferry.Migration.Storage;

/// <summary>
/// The DiskImages section (`--copy-storage`): which disks travel and their sizes,
/// <c>u32 disks | u32 0 | u64 size bytes × disks</c>. It comes right after the Header, before the
/// Configuration, so the destination knows to create its images before it builds the VM.
/// </summary>
public static class DiskImages
{
    public const int MaxDisks = 16;

    public static byte[] Encode(IReadOnlyList<long> sizes)
    {
        var payload = new byte[8 + 8 * sizes.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)sizes.Count);
        for (int i = 0; i < sizes.Count; i++) BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(8 + 8 * i), sizes[i]);
        return payload;
    }

    public static IReadOnlyList<long> Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8) throw new ProtocolException($"the disk images section is malformed ({payload.Length} bytes)");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(payload);
        if (count is 0 or > MaxDisks || BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]) != 0 || payload.Length != 8 + 8 * (int)count)
            throw new ProtocolException($"the disk images section is malformed ({count} disks in {payload.Length} bytes)");
        var sizes = new long[count];
        for (int i = 0; i < count; i++)
        {
            sizes[i] = BinaryPrimitives.ReadInt64LittleEndian(payload[(8 + 8 * i)..]);
            if (sizes[i] <= 0) throw new ProtocolException($"the disk images section gives disk {i} a size of {sizes[i]} bytes");
        }
        return sizes;
    }
}
