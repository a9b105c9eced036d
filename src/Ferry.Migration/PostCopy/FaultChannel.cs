using System.Buffers.Binary;
using System.IO.Hashing;
using Ferry.Migration.Transport;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// The fault stream's messages, read and written synchronously on dedicated threads: a fault
/// is served without a hop through the thread pool, whose workers are busy with the push.
/// <code>
///   destination → source  PageRequest:      u32 15 | u32 8 | u64 gpa                 (a control message)
///                         DiskBlockRequest: u32 17 | u32 8 | u64 disk &lt;&lt; 48 | block
///   source → destination  reply:            u64 key | u32 flags | u32 length | [bytes] | u64 XXH3(all before)
/// </code>
/// flags bit 0: the page or block is zero (no bytes follow); bit 1: a disk block (key as in its
/// request, length its bytes); a page's length field is 0 and its bytes are one page. The checksum
/// is checked before a byte reaches guest RAM or the disk.
/// </summary>
public static class FaultChannel
{
    public const int RequestBytes = 16, ReplyHeaderBytes = 16, ReplyTrailerBytes = 8;
    private const uint ZeroFlag = 1, DiskFlag = 2;
    private const int DiskShift = 48;

    public static void WriteRequest(Stream stream, ulong gpa, Span<byte> scratch) => WriteRequest(stream, MessageType.PageRequest, gpa, scratch);

    public static void WriteDiskRequest(Stream stream, int disk, long block, Span<byte> scratch) =>
        WriteRequest(stream, MessageType.DiskBlockRequest, DiskKey(disk, block), scratch);

    private static ulong DiskKey(int disk, long block) => (ulong)disk << DiskShift | (ulong)block;

    /// <summary>A disk request's or reply's key: which disk, which block.</summary>
    public static (int Disk, long Block) SplitDiskKey(ulong key) => ((int)(key >> DiskShift), (long)(key & ((1UL << DiskShift) - 1)));

    private static void WriteRequest(Stream stream, MessageType type, ulong key, Span<byte> scratch)
    {
        var request = scratch[..RequestBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], 8);
        BinaryPrimitives.WriteUInt64LittleEndian(request[8..], key);
        stream.Write(request);
        stream.Flush();
    }

    /// <summary>
    /// The next request: a page's address, or with <paramref name="disk"/> a disk block's key
    /// (<see cref="SplitDiskKey"/>); false when the peer closed the stream between requests.
    /// </summary>
    public static bool TryReadRequest(Stream stream, Span<byte> scratch, out ulong key, out bool disk)
    {
        (key, disk) = (0, false);
        var request = scratch[..RequestBytes];
        if (!ReadExact(stream, request, allowEnd: true)) return false;
        var type = (MessageType)BinaryPrimitives.ReadUInt32LittleEndian(request);
        if (type is not (MessageType.PageRequest or MessageType.DiskBlockRequest) || BinaryPrimitives.ReadUInt32LittleEndian(request[4..]) != 8)
            throw new ProtocolException($"the destination sent {type} on the fault stream");
        key = BinaryPrimitives.ReadUInt64LittleEndian(request[8..]);
        disk = type == MessageType.DiskBlockRequest;
        return true;
    }

    /// <summary>Writes one page's reply in one write; <paramref name="page"/> is its bytes (a zero page travels as a flag).</summary>
    public static int WriteReply(Stream stream, ulong gpa, ReadOnlySpan<byte> page, byte[] buffer) => WriteReply(stream, gpa, 0, page, buffer);

    /// <summary>Writes one disk block's reply in one write, as <see cref="WriteReply(Stream, ulong, ReadOnlySpan{byte}, byte[])"/> does a page's.</summary>
    public static int WriteDiskReply(Stream stream, int disk, long block, ReadOnlySpan<byte> bytes, byte[] buffer) =>
        WriteReply(stream, DiskKey(disk, block), DiskFlag, bytes, buffer);

    private static int WriteReply(Stream stream, ulong key, uint flags, ReadOnlySpan<byte> bytes, byte[] buffer)
    {
        bool zero = !bytes.ContainsAnyExcept((byte)0);
        int length = ReplyHeaderBytes + (zero ? 0 : bytes.Length);
        var reply = buffer.AsSpan(0, length + ReplyTrailerBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(reply, key);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[8..], flags | (zero ? ZeroFlag : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(reply[12..], (flags & DiskFlag) != 0 && !zero ? (uint)bytes.Length : 0);
        if (!zero) bytes.CopyTo(reply[ReplyHeaderBytes..]);
        BinaryPrimitives.WriteUInt64LittleEndian(reply[length..], XxHash3.HashToUInt64(reply[..length]));
        stream.Write(reply);
        stream.Flush();
        return reply.Length;
    }

    /// <summary>
    /// Reads one reply into <paramref name="buffer"/> (its bytes from <see cref="ReplyHeaderBytes"/>);
    /// false when the stream ended between replies. Throws on a corrupted one, or a disk block
    /// larger than <paramref name="maxBlockBytes"/> (0: this migration copies no disk).
    /// </summary>
    public static bool TryReadReply(Stream stream, byte[] buffer, int pageSize, int maxBlockBytes, out FaultReply reply)
    {
        reply = default;
        if (!ReadExact(stream, buffer.AsSpan(0, ReplyHeaderBytes), allowEnd: true)) return false;
        ulong key = BinaryPrimitives.ReadUInt64LittleEndian(buffer);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(8));
        uint declared = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(12));
        bool zero = (flags & ZeroFlag) != 0, disk = (flags & DiskFlag) != 0;
        if ((flags & ~(ZeroFlag | DiskFlag)) != 0 || (disk ? maxBlockBytes == 0 || declared > maxBlockBytes || (zero != (declared == 0)) : declared != 0))
            throw new ProtocolException("a reply on the fault stream is corrupted (bad flags or length)");
        int bytes = zero ? 0 : disk ? (int)declared : pageSize;
        int length = ReplyHeaderBytes + bytes;
        ReadExact(stream, buffer.AsSpan(ReplyHeaderBytes, bytes + ReplyTrailerBytes), allowEnd: false);
        if (XxHash3.HashToUInt64(buffer.AsSpan(0, length)) != BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(length)))
            throw new ProtocolException($"the reply for {(disk ? "a disk block" : $"page 0x{key:x}")} on the fault stream is corrupted (checksum mismatch)");
        reply = new FaultReply(key, zero, disk, bytes);
        return true;
    }

    /// <summary>A buffer for any reply: a page, or a disk block of up to <paramref name="maxBlockBytes"/>.</summary>
    public static int ReplyBufferBytes(int pageSize, int maxBlockBytes = 0) => ReplyHeaderBytes + Math.Max(pageSize, maxBlockBytes) + ReplyTrailerBytes;

    private static bool ReadExact(Stream stream, Span<byte> buffer, bool allowEnd)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = stream.Read(buffer[done..]);
            if (n == 0)
            {
                if (done == 0 && allowEnd) return false;
                throw new ProtocolException("the fault stream was cut inside a message");
            }
            done += n;
        }
        return true;
    }
}

/// <summary>One reply read off the fault stream: a page (Key its address) or a disk block (Key as <see cref="FaultChannel.SplitDiskKey"/> splits it), zero or with Length bytes.</summary>
public readonly record struct FaultReply(ulong Key, bool Zero, bool Disk, int Length);
