using System.Buffers.Binary;
using System.IO.Hashing;

namespace Ferry.Migration.Format;

/// <summary>
/// Reads what SectionWriter wrote, verifying each section's checksum as it arrives and, at the
/// End section, the count and the hash over all sections. Every error names the section.
/// </summary>
public sealed class SectionReader(Stream stream, long maxPayloadBytes = SectionReader.DefaultMaxPayload)
{
    /// <summary>A stream that yields nothing for this long fails the read (a peer gone silent); null waits forever.</summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>No section of ours is larger; a bigger length is corruption or hostility, not a reason to allocate.</summary>
    public const long DefaultMaxPayload = 64L << 20;
    private readonly XxHash3 _whole = new();

    public long SectionCount { get; private set; }
    public long BytesRead { get; private set; }

    // One buffer serves every section: a migration streams hundreds of 4 MiB memory sections,
    // and a fresh array for each would keep the garbage collector busy on the hot path.
    private byte[] _payload = [];

    /// <summary>
    /// The next section; its payload stays valid until the next call. Throws ProtocolException
    /// on truncation, corruption or an oversized length.
    /// </summary>
    public async ValueTask<(SectionType Type, ReadOnlyMemory<byte> Payload)> ReadAsync(CancellationToken cancellationToken)
    {
        var header = new byte[SectionWriter.FrameHeaderSize];
        string where = $"section #{SectionCount + 1}";
        await ReadExactAsync(header, $"the header of {where}", cancellationToken);
        var type = (SectionType)BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8));
        string name = $"{where} ({SectionNames.Of(type)})";
        if (BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)) != 0 || length > (ulong)maxPayloadBytes)
            throw new ProtocolException($"{name} has a corrupted frame (length {length})");
        if (_payload.Length < (int)length) _payload = GC.AllocateUninitializedArray<byte>((int)Math.Max(length, 1 << 20));
        var payload = _payload.AsMemory(0, (int)length);
        await ReadExactAsync(payload, name, cancellationToken);
        var trailer = new byte[SectionWriter.FrameTrailerSize];
        await ReadExactAsync(trailer, $"the checksum of {name}", cancellationToken);

        var hash = new XxHash3();
        hash.Append(header);
        hash.Append(payload.Span);
        if (hash.GetCurrentHashAsUInt64() != BinaryPrimitives.ReadUInt64LittleEndian(trailer))
            throw new ProtocolException($"{name} is corrupted (checksum mismatch)");

        if (type == SectionType.End)
        {
            if (payload.Length != 16) throw new ProtocolException($"{name} is malformed");
            ulong count = BinaryPrimitives.ReadUInt64LittleEndian(payload.Span);
            ulong whole = BinaryPrimitives.ReadUInt64LittleEndian(payload.Span[8..]);
            if (count != (ulong)SectionCount || whole != _whole.GetCurrentHashAsUInt64())
                throw new ProtocolException($"the image is inconsistent: its end section counts {count} sections, {SectionCount} arrived");
        }
        _whole.Append(trailer);
        SectionCount++;
        BytesRead += header.Length + payload.Length + trailer.Length;
        return (type, payload);
    }

    private async ValueTask ReadExactAsync(Memory<byte> buffer, string what, CancellationToken cancellationToken)
    {
        if (StallTimeout is not { } limit)
        {
            await ReadExactUntimedAsync(buffer, what, cancellationToken);
            return;
        }
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(limit);
        try { await ReadExactUntimedAsync(buffer, what, stall.Token); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"the peer sent nothing for {limit.TotalSeconds:F0} s (inside {what})");
        }
    }

    private async ValueTask ReadExactUntimedAsync(Memory<byte> buffer, string what, CancellationToken cancellationToken)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[done..], cancellationToken);
            if (n == 0) throw new ProtocolException($"the image is truncated inside {what}");
            done += n;
        }
    }
}
