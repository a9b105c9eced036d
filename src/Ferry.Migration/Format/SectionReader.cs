using System.Buffers.Binary;
using System.IO.Hashing;

namespace Ferry.Migration.Format;

/// <summary>
/// Reads what SectionWriter wrote, verifying each section's checksum as it arrives and, at the
/// End section, the count and the hash over all sections. Every error names the section.
/// A section is read whole (<see cref="ReadAsync"/>) or, for guest memory, as a frame whose
/// payload the caller reads in pieces straight to where it belongs (<see cref="ReadFrameAsync"/>,
/// <see cref="ReadPayloadAsync(Memory{byte}, CancellationToken)"/>): the checksum is then known
/// only once the last piece arrived, so such a caller writes only where a bad section does no
/// harm (the RAM of a VM that has not run and is discarded on any error).
/// </summary>
public sealed class SectionReader(Stream stream, long maxPayloadBytes = SectionReader.DefaultMaxPayload)
{
    /// <summary>A stream that yields nothing for this long fails the read (a peer gone silent); null waits forever.</summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>The clock the stall timeout runs on (the migration's: MigrationTimeouts.Clock).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>No section of ours is larger; a bigger length is corruption or hostility, not a reason to allocate.</summary>
    public const long DefaultMaxPayload = 64L << 20;
    private readonly XxHash3 _whole = new();
    // Each piece is hashed the moment it arrives, while it is still in the CPU's cache.
    private readonly XxHash3 _section = new();
    private readonly byte[] _header = new byte[SectionWriter.FrameHeaderSize];
    private readonly byte[] _trailer = new byte[SectionWriter.FrameTrailerSize];
    private SectionType _type;
    private string _name = "";
    private long _left = -1; // payload bytes of the current section still unread; -1 between sections
    private Transport.ClockedCancellation? _stall;
    private CancellationToken _stallLinkedTo;

    public long SectionCount { get; private set; }
    public long BytesRead { get; private set; }

    // One buffer serves every section: a migration streams hundreds of 4 MiB memory sections,
    // and a fresh array for each would keep the garbage collector busy on the hot path.
    private byte[] _payload = [];

    /// <summary>
    /// The next section, read whole; its payload stays valid until the next call. Throws
    /// ProtocolException on truncation, corruption or an oversized length.
    /// </summary>
    public async ValueTask<(SectionType Type, ReadOnlyMemory<byte> Payload)> ReadAsync(CancellationToken cancellationToken)
    {
        var frame = await ReadFrameAsync(cancellationToken);
        return (frame.Type, await ReadPayloadAsync(cancellationToken));
    }

    /// <summary>Reads the next section's frame header; its payload must be read before the next frame.</summary>
    public async ValueTask<SectionFrame> ReadFrameAsync(CancellationToken cancellationToken)
    {
        if (_left >= 0) throw new InvalidOperationException($"{_name} was not read to its end");
        string where = $"section #{SectionCount + 1}";
        _section.Reset();
        await ReadExactAsync(_header, $"the header of {where}", cancellationToken);
        _type = (SectionType)BinaryPrimitives.ReadUInt32LittleEndian(_header);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(8));
        _name = $"{where} ({SectionNames.Of(_type)})";
        if (BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(4)) != 0 || length > (ulong)maxPayloadBytes)
            throw new ProtocolException($"{_name} has a corrupted frame (length {length})");
        _left = (long)length;
        if (_left == 0) await EndSectionAsync(ReadOnlyMemory<byte>.Empty, cancellationToken);
        return new SectionFrame(_type, (long)length, _name);
    }

    /// <summary>Reads the rest of the current section's payload into a buffer that stays valid until the next call.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadPayloadAsync(CancellationToken cancellationToken)
    {
        if (_left < 0) return ReadOnlyMemory<byte>.Empty; // an empty payload was finished with its frame
        int length = (int)_left;
        if (_payload.Length < length) _payload = GC.AllocateUninitializedArray<byte>(Math.Max(length, 1 << 20));
        var payload = _payload.AsMemory(0, length);
        await ReadPayloadAsync(payload, cancellationToken);
        return payload;
    }

    /// <summary>
    /// Reads the next <paramref name="into"/>.Length bytes of the current payload. When they are its
    /// last, the section's checksum is verified before this returns.
    /// </summary>
    public async ValueTask ReadPayloadAsync(Memory<byte> into, CancellationToken cancellationToken)
    {
        if (into.Length > _left) throw new ProtocolException($"{_name} ends before the data it describes");
        await ReadExactAsync(into, _name, cancellationToken);
        _left -= into.Length;
        if (_left == 0) await EndSectionAsync(into, cancellationToken);
    }

    private async ValueTask EndSectionAsync(ReadOnlyMemory<byte> lastPiece, CancellationToken cancellationToken)
    {
        // The hash of the payload excludes the trailer itself, so read it untouched.
        _left = -1;
        await ReadExactAsync(_trailer, $"the checksum of {_name}", cancellationToken, hash: false);
        if (_section.GetCurrentHashAsUInt64() != BinaryPrimitives.ReadUInt64LittleEndian(_trailer))
            throw new ProtocolException($"{_name} is corrupted (checksum mismatch)");
        long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(8));
        if (_type == SectionType.End)
        {
            // An End payload is always read whole, so the last piece is all of it.
            if (length != 16 || lastPiece.Length != 16) throw new ProtocolException($"{_name} is malformed");
            ulong count = BinaryPrimitives.ReadUInt64LittleEndian(lastPiece.Span);
            ulong whole = BinaryPrimitives.ReadUInt64LittleEndian(lastPiece.Span[8..]);
            if (count != (ulong)SectionCount || whole != _whole.GetCurrentHashAsUInt64())
                throw new ProtocolException($"the image is inconsistent: its end section counts {count} sections, {SectionCount} arrived");
        }
        _whole.Append(_trailer);
        SectionCount++;
        BytesRead += _header.Length + length + _trailer.Length;
    }

    private async ValueTask ReadExactAsync(Memory<byte> buffer, string what, CancellationToken cancellationToken, bool hash = true)
    {
        if (StallTimeout is not { } limit)
        {
            await ReadExactUntimedAsync(buffer, what, hash, cancellationToken);
            return;
        }
        var stall = StallSource(cancellationToken);
        stall.CancelAfter(limit); // counts from the start of this read
        try { await ReadExactUntimedAsync(buffer, what, hash, stall.Token); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"the peer sent nothing for {limit.TotalSeconds:F0} s (inside {what})");
        }
        stall.CancelAfter(Timeout.InfiniteTimeSpan); // no countdown between reads
    }

    /// <summary>
    /// One linked source for all reads made with the same token. A memory section is read run by
    /// run, so a fresh source and timer per read cost two of each per page of a scattered round.
    /// </summary>
    private Transport.ClockedCancellation StallSource(CancellationToken cancellationToken)
    {
        if (_stall is { IsCancellationRequested: false } && _stallLinkedTo == cancellationToken) return _stall;
        _stall?.Dispose();
        _stallLinkedTo = cancellationToken;
        return _stall = new Transport.ClockedCancellation(Clock, Timeout.InfiniteTimeSpan, cancellationToken);
    }

    private async ValueTask ReadExactUntimedAsync(Memory<byte> buffer, string what, bool hash, CancellationToken cancellationToken)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[done..], cancellationToken);
            if (n == 0) throw new ProtocolException($"the image is truncated inside {what}");
            if (hash) _section.Append(buffer.Span.Slice(done, n));
            done += n;
        }
    }
}

/// <summary>A section's type and payload length, read before its payload; <see cref="Name"/> is how errors name it.</summary>
public readonly record struct SectionFrame(SectionType Type, long Length, string Name);
