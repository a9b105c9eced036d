using System.Buffers.Binary;
using System.IO.Hashing;

namespace Ferry.Migration.Format;

/// <summary>
/// Writes framed, checksummed sections:
/// <code>
///   u32 type | u32 reserved (0) | u64 payload length | payload | u64 XXH3 of (type, length, payload)
/// </code>
/// and keeps a running XXH3 over every section's checksum for the End section, so a reader can
/// tell a complete image from one cut at a section boundary. A payload may come in parts (run
/// headers in one buffer, pages straight from a paused VM's RAM): they are hashed and written in
/// turn, never gathered into one copy.
/// </summary>
public sealed class SectionWriter(Stream stream)
{
    public const int FrameHeaderSize = 16, FrameTrailerSize = 8;
    private readonly XxHash3 _whole = new();
    private readonly XxHash3 _section = new();

    /// <summary>A write the peer does not take for this long fails (a peer that stopped reading must not hold a paused VM); null waits forever.</summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>The clock the stall timeout runs on (the migration's: MigrationTimeouts.Clock).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public long SectionCount { get; private set; }
    public long BytesWritten { get; private set; }

    public ValueTask WriteAsync(SectionType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        WriteAsync(type, [payload], cancellationToken);

    /// <summary>Writes one section whose payload is the concatenation of <paramref name="parts"/>.</summary>
    public async ValueTask WriteAsync(SectionType type, IReadOnlyList<ReadOnlyMemory<byte>> parts, CancellationToken cancellationToken)
    {
        long length = 0;
        foreach (var part in parts) length += part.Length;
        var header = new byte[FrameHeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)type);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), (ulong)length);
        _section.Reset();
        _section.Append(header);
        foreach (var part in parts) _section.Append(part.Span);
        var trailer = new byte[FrameTrailerSize];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, _section.GetCurrentHashAsUInt64());
        _whole.Append(trailer);

        using var stall = new Transport.ClockedCancellation(Clock, StallTimeout ?? Timeout.InfiniteTimeSpan, cancellationToken);
        try
        {
            await stream.WriteAsync(header, stall.Token);
            foreach (var part in parts) await stream.WriteAsync(part, stall.Token);
            await stream.WriteAsync(trailer, stall.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"the peer took nothing for {StallTimeout!.Value.TotalSeconds:F0} s");
        }
        SectionCount++;
        BytesWritten += FrameHeaderSize + length + FrameTrailerSize;
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
