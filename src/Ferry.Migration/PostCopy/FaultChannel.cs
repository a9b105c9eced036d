using System.Buffers.Binary;
using System.IO.Hashing;
using Ferry.Migration.Transport;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// The fault stream's two messages, read and written synchronously on dedicated threads: a fault
/// is served without a hop through the thread pool, whose workers are busy with the push.
/// <code>
///   destination → source  PageRequest: u32 15 | u32 8 | u64 gpa          (a control message)
///   source → destination  PageReply:   u64 gpa | u32 flags | u32 0 | [page] | u64 XXH3(all before)
/// </code>
/// flags bit 0: the page is zero (no page bytes follow). The checksum is checked before a byte of
/// the page reaches guest RAM.
/// </summary>
public static class FaultChannel
{
    public const int RequestBytes = 16, ReplyHeaderBytes = 16, ReplyTrailerBytes = 8;
    private const uint ZeroFlag = 1;

    public static void WriteRequest(Stream stream, ulong gpa, Span<byte> scratch)
    {
        var request = scratch[..RequestBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)MessageType.PageRequest);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], 8);
        BinaryPrimitives.WriteUInt64LittleEndian(request[8..], gpa);
        stream.Write(request);
        stream.Flush();
    }

    /// <summary>The next request's address; false when the peer closed the stream between requests.</summary>
    public static bool TryReadRequest(Stream stream, Span<byte> scratch, out ulong gpa)
    {
        gpa = 0;
        var request = scratch[..RequestBytes];
        if (!ReadExact(stream, request, allowEnd: true)) return false;
        var type = (MessageType)BinaryPrimitives.ReadUInt32LittleEndian(request);
        if (type != MessageType.PageRequest || BinaryPrimitives.ReadUInt32LittleEndian(request[4..]) != 8)
            throw new ProtocolException($"the destination sent {type} on the fault stream");
        gpa = BinaryPrimitives.ReadUInt64LittleEndian(request[8..]);
        return true;
    }

    /// <summary>Writes one page's reply in one write; <paramref name="page"/> is its bytes (a zero page travels as a flag).</summary>
    public static int WriteReply(Stream stream, ulong gpa, ReadOnlySpan<byte> page, byte[] buffer)
    {
        bool zero = !page.ContainsAnyExcept((byte)0);
        int length = ReplyHeaderBytes + (zero ? 0 : page.Length);
        var reply = buffer.AsSpan(0, length + ReplyTrailerBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(reply, gpa);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[8..], zero ? ZeroFlag : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[12..], 0);
        if (!zero) page.CopyTo(reply[ReplyHeaderBytes..]);
        BinaryPrimitives.WriteUInt64LittleEndian(reply[length..], XxHash3.HashToUInt64(reply[..length]));
        stream.Write(reply);
        stream.Flush();
        return reply.Length;
    }

    /// <summary>Reads one reply into <paramref name="page"/>; false when the stream ended between replies. Throws on a corrupted one.</summary>
    public static bool TryReadReply(Stream stream, byte[] buffer, int pageSize, out ulong gpa, out bool zero)
    {
        (gpa, zero) = (0, false);
        if (!ReadExact(stream, buffer.AsSpan(0, ReplyHeaderBytes), allowEnd: true)) return false;
        gpa = BinaryPrimitives.ReadUInt64LittleEndian(buffer);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(8));
        if ((flags & ~ZeroFlag) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(12)) != 0)
            throw new ProtocolException("a page reply on the fault stream is corrupted (bad flags)");
        zero = (flags & ZeroFlag) != 0;
        int length = ReplyHeaderBytes + (zero ? 0 : pageSize);
        ReadExact(stream, buffer.AsSpan(ReplyHeaderBytes, length - ReplyHeaderBytes + ReplyTrailerBytes), allowEnd: false);
        if (XxHash3.HashToUInt64(buffer.AsSpan(0, length)) != BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(length)))
            throw new ProtocolException($"the reply for page 0x{gpa:x} on the fault stream is corrupted (checksum mismatch)");
        return true;
    }

    public static int ReplyBufferBytes(int pageSize) => ReplyHeaderBytes + pageSize + ReplyTrailerBytes;

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
