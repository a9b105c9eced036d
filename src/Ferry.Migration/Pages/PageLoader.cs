using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Vm;
using K4os.Compression.LZ4;

namespace Ferry.Migration.Pages;

/// <summary>
/// Writes what PageWriter sent into a VM's RAM: Memory, CompressedMemory and ZeroPages sections.
/// Every run is checked against the memory layout before a byte is written, so a hostile
/// stream can neither write outside guest RAM nor make this side allocate without bound.
/// </summary>
public sealed class PageLoader(IMigratableVm? vm, GuestMemoryLayout layout, IPageInstaller? installer = null)
{
    /// <summary>
    /// Loads into a VM that is already running (post-copy): every page goes through
    /// <paramref name="installer"/>, after its section's checksum was verified, never straight
    /// into guest RAM.
    /// </summary>
    public PageLoader(GuestMemoryLayout layout, IPageInstaller installer) : this(null, layout, installer) { }

    private readonly byte[] _runHeader = new byte[PageWriter.RunHeaderBytes];
    private readonly PageClaims _claims = new(layout);
    private byte[] _decompressed = [];
    private static readonly byte[] ZeroPage = new byte[4096];

    /// <summary>A RoundEnd arrived on this loader's stream: each page may come once more.</summary>
    public void NewRound() => _claims.NewRound();

    public static bool Handles(SectionType type) => type is SectionType.Memory or SectionType.CompressedMemory or SectionType.ZeroPages;

    /// <summary>
    /// Loads the page section whose frame was just read: plain memory straight from the stream
    /// (<see cref="ReceiveAsync"/>), the others through the reader's buffer. Returns the guest
    /// bytes it covered.
    /// </summary>
    public async ValueTask<long> LoadAsync(SectionReader reader, SectionFrame frame, CancellationToken cancellationToken) =>
        frame.Type == SectionType.Memory && installer is null
            ? await ReceiveAsync(reader, frame, cancellationToken)
            : Load(frame.Type, (await reader.ReadPayloadAsync(cancellationToken)).Span);

    /// <summary>Loads one section; returns the guest bytes it covered.</summary>
    public long Load(SectionType type, ReadOnlySpan<byte> payload) => type switch
    {
        SectionType.Memory => LoadRuns(payload),
        SectionType.CompressedMemory => LoadRuns(Decompress(payload)),
        SectionType.ZeroPages => LoadZeroRuns(payload),
        _ => throw new ProtocolException($"a {SectionNames.Of(type)} section is not guest memory"),
    };

    /// <summary>
    /// Receives a Memory section whose frame was just read, each run straight from the stream into
    /// guest RAM (no copy on this side), each run checked before a byte of it is read. The
    /// section's checksum is known only after its last run, so this is only for a VM that has not
    /// run yet and is discarded on any error (a migration's or a restore's destination).
    /// </summary>
    public async ValueTask<long> ReceiveAsync(SectionReader reader, SectionFrame frame, CancellationToken cancellationToken)
    {
        if (frame.Type != SectionType.Memory || vm is null) throw new ProtocolException($"a {SectionNames.Of(frame.Type)} section cannot be received in place");
        long left = frame.Length, bytes = 0;
        while (left > 0)
        {
            if (left < PageWriter.RunHeaderBytes) throw new ProtocolException($"{frame.Name} ends inside a run header");
            await reader.ReadPayloadAsync(_runHeader, cancellationToken);
            left -= PageWriter.RunHeaderBytes;
            var (gpa, length) = CheckedRun(_runHeader, left, frame.Name);
            await reader.ReadPayloadAsync(vm.GuestRam(gpa, (int)length, toFill: true), cancellationToken);
            left -= length;
            bytes += length;
        }
        return bytes;
    }

    private ReadOnlySpan<byte> Decompress(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 4) throw new ProtocolException("a compressed memory section is too short");
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(payload);
        if (length <= 0 || length > PageWriter.MemorySectionBytes + PageWriter.RunHeaderBytes + layout.PageSize)
            throw new ProtocolException($"a compressed memory section claims an implausible size ({length} bytes)");
        if (_decompressed.Length < length) _decompressed = GC.AllocateUninitializedArray<byte>(length);
        int n = LZ4Codec.Decode(payload[4..], _decompressed.AsSpan(0, length));
        if (n != length) throw new ProtocolException("a compressed memory section does not decompress to its stated size");
        return _decompressed.AsSpan(0, length);
    }

    private long LoadRuns(ReadOnlySpan<byte> payload)
    {
        long bytes = 0;
        while (!payload.IsEmpty)
        {
            if (payload.Length < PageWriter.RunHeaderBytes) throw new ProtocolException("a memory section ends inside a run header");
            var (gpa, length) = CheckedRun(payload, payload.Length - PageWriter.RunHeaderBytes, "a memory section");
            var pages = payload.Slice(PageWriter.RunHeaderBytes, (int)length);
            if (installer is not null) installer.Install(gpa, pages);
            else vm!.WriteGuest(gpa, pages);
            bytes += length;
            payload = payload[(PageWriter.RunHeaderBytes + (int)length)..];
        }
        return bytes;
    }

    /// <summary>The run a run header describes, refused unless it lies in RAM and within the <paramref name="left"/> bytes that follow it.</summary>
    private (ulong Gpa, long Length) CheckedRun(ReadOnlySpan<byte> header, long left, string section)
    {
        ulong gpa = BinaryPrimitives.ReadUInt64LittleEndian(header);
        uint pages = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        long length = (long)pages * layout.PageSize;
        if (pages == 0 || length > left || !InsideRam(gpa, length))
            throw new ProtocolException($"{section} holds an invalid run (gpa 0x{gpa:x}, {pages} pages)");
        _claims.Claim(gpa, pages, section);
        return (gpa, length);
    }

    private long LoadZeroRuns(ReadOnlySpan<byte> payload)
    {
        if (payload.Length % PageWriter.RunHeaderBytes != 0) throw new ProtocolException("a zero-pages section is malformed");
        long bytes = 0;
        int pageSize = layout.PageSize;
        for (; !payload.IsEmpty; payload = payload[PageWriter.RunHeaderBytes..])
        {
            ulong gpa = BinaryPrimitives.ReadUInt64LittleEndian(payload);
            uint pages = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
            long length = (long)pages * pageSize;
            if (pages == 0 || !InsideRam(gpa, length))
                throw new ProtocolException($"a zero-pages section holds an invalid run (gpa 0x{gpa:x}, {pages} pages)");
            _claims.Claim(gpa, pages, "a zero-pages section");
            if (installer is not null) installer.InstallZero(gpa, (int)pages);
            else for (uint p = 0; p < pages; p++) vm!.WriteGuest(gpa + p * (ulong)pageSize, ZeroPage.AsSpan(0, pageSize));
            bytes += length;
        }
        return bytes;
    }

    private bool InsideRam(ulong gpa, long length)
    {
        if (gpa % (ulong)layout.PageSize != 0) return false;
        foreach (var r in layout.Regions)
            if (r.Contains(gpa) && gpa + (ulong)length <= r.EndGpa) return true;
        return false;
    }
}

/// <summary>Where a post-copy destination's pages go instead of straight into guest RAM.</summary>
public interface IPageInstaller
{
    void Install(ulong gpa, ReadOnlySpan<byte> pages);
    void InstallZero(ulong gpa, int pageCount);
}
