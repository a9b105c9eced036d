using System.Buffers.Binary;
using System.IO.Hashing;

namespace Ferry.Migration.Format;

/// <summary>
/// Writes framed, checksummed sections:
/// <code>
///   u32 type | u32 reserved (0) | u64 payload length | payload | u64 XXH3 of (type, length, payload)
/// </code>
/// and keeps a running XXH3 over every section's checksum for the End section, so a reader can
/// tell a complete image from one cut at a section boundary.
/// </summary>
public sealed class SectionWriter(Stream stream)
{
    public const int FrameHeaderSize = 16, FrameTrailerSize = 8;
    private readonly XxHash3 _whole = new();

    public long SectionCount { get; private set; }
    public long BytesWritten { get; private set; }

    public async ValueTask WriteAsync(SectionType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new byte[FrameHeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)type);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), (ulong)payload.Length);
        var hash = new XxHash3();
        hash.Append(header);
        hash.Append(payload.Span);
        var trailer = new byte[FrameTrailerSize];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, hash.GetCurrentHashAsUInt64());
        _whole.Append(trailer);

        await stream.WriteAsync(header, cancellationToken);
        await stream.WriteAsync(payload, cancellationToken);
        await stream.WriteAsync(trailer, cancellationToken);
        SectionCount++;
        BytesWritten += FrameHeaderSize + payload.Length + FrameTrailerSize;
    }

    /// <summary>Writes the End section: the number of sections before it and the hash over them.</summary>
    public async ValueTask WriteEndAsync(CancellationToken cancellationToken)
    {
        var end = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(end, (ulong)SectionCount);
        BinaryPrimitives.WriteUInt64LittleEndian(end.AsSpan(8), _whole.GetCurrentHashAsUInt64());
        await WriteAsync(SectionType.End, end, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }
}
