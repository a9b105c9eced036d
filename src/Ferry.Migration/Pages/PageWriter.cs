using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;
using K4os.Compression.LZ4;

namespace Ferry.Migration.Pages;

/// <summary>
/// Turns guest pages into Memory sections: the caller adds pages (any order, ascending is best),
/// the writer groups consecutive non-zero pages into runs and closes a section at
/// <see cref="MemorySectionBytes"/>. A page that reads as zero is either skipped (the
/// destination's fresh RAM is already zero) or, when <see cref="SendZeroPages"/> is set, sent as a
/// ZeroPages run (a live round resends a page the guest has cleared).
/// <code>  Memory:    (u64 gpa | u32 page count | u32 0 | page count × page bytes)*
///   ZeroPages: (u64 gpa | u32 page count | u32 0)*  </code>
/// While the guest runs, each page is copied out of guest RAM the moment it is added, so what is
/// checksummed is what is sent. Once the VM is paused (<see cref="SendFromGuestRam"/>), long runs
/// go to the socket straight from guest RAM, without a copy. One section is filled while the
/// previous one is on the wire.
/// </summary>
public sealed class PageWriter
{
    /// <summary>Payload size at which a Memory section is closed; small enough to checksum and resend cheaply.</summary>
    public const int MemorySectionBytes = 4 << 20;
    public const int RunHeaderBytes = 16;
    private const int MaxZeroRuns = 64 * 1024;
    /// <summary>Shorter runs are copied even from a paused VM: a write per short run would cost more than the copy.</summary>
    private const int InPlaceMinBytes = 64 << 10;

    private readonly IMigratableVm _vm;
    private readonly SectionWriter _writer;
    private readonly bool _compress;
    private readonly int _pageSize;
    private readonly SectionBuffer[] _buffers;
    private int _current;
    private Task _inFlight = Task.CompletedTask;
    private readonly byte[] _zeroRuns = new byte[MaxZeroRuns * RunHeaderBytes];
    private int _zeroUsed, _zeroRunStart = -1;
    private ulong _nextZeroGpa = ulong.MaxValue;
    // Pages added while sending from guest RAM, not yet looked at: [_pendingGpa, + _pendingPages pages).
    private ulong _pendingGpa;
    private int _pendingPages;

    public PageWriter(IMigratableVm vm, SectionWriter writer, PageWriterOptions options)
    {
        _vm = vm;
        _writer = writer;
        _compress = options.Compress;
        SendZeroPages = options.SendZeroPages;
        Limiter = options.Limiter;
        _pageSize = vm.Memory.PageSize;
        _buffers = [new SectionBuffer(_pageSize), new SectionBuffer(_pageSize)];
    }

    /// <summary>Whether a page that reads as zero travels as a ZeroPages run (it must once the destination may hold an older copy).</summary>
    public bool SendZeroPages { get; set; }

    /// <summary>
    /// Send long runs straight from guest RAM instead of a copy. Only while the VM is paused: a
    /// page the guest changed between checksum and send would make the section look corrupted.
    /// Compressed sections are always built from a copy.
    /// </summary>
    public bool SendFromGuestRam { get; set; }

    /// <summary>The shared rate limit, or null for none; the stop-and-copy lifts it.</summary>
    public BandwidthLimiter? Limiter { get; set; }

    public long PagesSent { get; private set; }
    public long ZeroPages { get; private set; }
    public long BytesWritten => _writer.BytesWritten;

    private SectionBuffer Current => _buffers[_current];

    /// <summary>Queues the page at <paramref name="gpa"/> (or its zero run) for sending; a running guest's page is read now.</summary>
    public async ValueTask AddAsync(ulong gpa, CancellationToken cancellationToken)
    {
        if (SendFromGuestRam && !_compress)
        {
            if (_pendingPages > 0 && gpa == _pendingGpa + (ulong)_pendingPages * (ulong)_pageSize && _pendingPages < MaxRunPages)
            {
                _pendingPages++;
                return;
            }
            await LookAtPendingAsync(cancellationToken);
            (_pendingGpa, _pendingPages) = (gpa, 1);
            return;
        }
        if (Current.PayloadBytes + RunHeaderBytes + _pageSize > MemorySectionBytes) await FlushMemoryAsync(cancellationToken);
        var slot = Current.ReservePage(gpa, out bool newRun);
        _vm.ReadGuest(gpa, slot);
        if (!slot.ContainsAnyExcept((byte)0))
        {
            Current.BreakRun(); // the run breaks at a zero page
            await ZeroPageAsync(gpa, cancellationToken);
            return;
        }
        Current.CommitPage(gpa, newRun);
        PagesSent++;
    }

    /// <summary>A run that always fits in an empty section.</summary>
    private int MaxRunPages => (MemorySectionBytes - RunHeaderBytes) / _pageSize;

    /// <summary>Splits the pending pages of a paused VM into zero pages and non-zero runs.</summary>
    private async ValueTask LookAtPendingAsync(CancellationToken cancellationToken)
    {
        if (_pendingPages == 0) return;
        var ram = _vm.GuestRam(_pendingGpa, _pendingPages * _pageSize, toFill: false);
        int runFrom = -1;
        for (int i = 0; i <= _pendingPages; i++)
        {
            bool zero = i < _pendingPages && !ram.Span.Slice(i * _pageSize, _pageSize).ContainsAnyExcept((byte)0);
            if (runFrom >= 0 && (zero || i == _pendingPages))
            {
                await AddRunAsync(_pendingGpa + (ulong)runFrom * (ulong)_pageSize, ram[(runFrom * _pageSize)..(i * _pageSize)], cancellationToken);
                runFrom = -1;
            }
            if (zero) await ZeroPageAsync(_pendingGpa + (ulong)i * (ulong)_pageSize, cancellationToken);
            else if (runFrom < 0) runFrom = i;
        }
        _pendingPages = 0;
    }

    /// <summary>Adds a run of non-zero pages of a paused VM: long ones by reference, short ones copied.</summary>
    private async ValueTask AddRunAsync(ulong gpa, ReadOnlyMemory<byte> pages, CancellationToken cancellationToken)
    {
        if (Current.PayloadBytes + RunHeaderBytes + pages.Length > MemorySectionBytes) await FlushMemoryAsync(cancellationToken);
        if (pages.Length >= InPlaceMinBytes) Current.AddReference(gpa, pages, _pageSize);
        else
            for (int at = 0; at < pages.Length; at += _pageSize)
            {
                ulong page = gpa + (ulong)at;
                pages.Span.Slice(at, _pageSize).CopyTo(Current.ReservePage(page, out bool newRun));
                Current.CommitPage(page, newRun);
            }
        PagesSent += pages.Length / _pageSize;
    }

    private async ValueTask ZeroPageAsync(ulong gpa, CancellationToken cancellationToken)
    {
        ZeroPages++;
        if (!SendZeroPages) return;
        if (gpa == _nextZeroGpa && _zeroRunStart >= 0) AddPageToRun(_zeroRuns.AsSpan(_zeroRunStart));
        else
        {
            if (_zeroUsed + RunHeaderBytes > _zeroRuns.Length) await FlushZerosAsync(cancellationToken);
            _zeroRunStart = _zeroUsed;
            WriteRunHeader(_zeroRuns.AsSpan(_zeroUsed), gpa, 1);
            _zeroUsed += RunHeaderBytes;
        }
        _nextZeroGpa = gpa + (ulong)_pageSize;
    }

    /// <summary>Sends whatever is queued and waits until it is on the wire.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await LookAtPendingAsync(cancellationToken);
        await FlushMemoryAsync(cancellationToken);
        await FlushZerosAsync(cancellationToken);
        await _inFlight;
    }

    /// <summary>Puts the current section on the wire and goes on filling the other buffer.</summary>
    private async ValueTask FlushMemoryAsync(CancellationToken cancellationToken)
    {
        var section = Current;
        if (section.PayloadBytes == 0) return;
        var type = SectionType.Memory;
        var payload = section.Parts();
        if (_compress)
        {
            var plain = section.Staged.AsSpan(0, section.Used);
            int bound = LZ4Codec.MaximumOutputSize(plain.Length) + 4;
            if (section.Compressed.Length < bound) section.Compressed = GC.AllocateUninitializedArray<byte>(bound);
            int n = LZ4Codec.Encode(plain, section.Compressed.AsSpan(4), LZ4Level.L00_FAST);
            BinaryPrimitives.WriteUInt32LittleEndian(section.Compressed, (uint)plain.Length);
            (type, payload) = (SectionType.CompressedMemory, [section.Compressed.AsMemory(0, n + 4)]);
        }
        // The other buffer may still be on the wire: one section at a time, in order.
        await _inFlight;
        _inFlight = SendAsync(type, payload, cancellationToken);
        _current ^= 1;
        Current.Clear();
    }

    private async ValueTask FlushZerosAsync(CancellationToken cancellationToken)
    {
        if (_zeroUsed == 0) return;
        await _inFlight;
        await SendAsync(SectionType.ZeroPages, [_zeroRuns.AsMemory(0, _zeroUsed)], cancellationToken);
        _zeroUsed = 0;
        _zeroRunStart = -1;
        _nextZeroGpa = ulong.MaxValue;
    }

    private async Task SendAsync(SectionType type, IReadOnlyList<ReadOnlyMemory<byte>> payload, CancellationToken cancellationToken)
    {
        long length = payload.Sum(p => (long)p.Length);
        if (Limiter is { } limiter) await limiter.WaitAsync((int)length, cancellationToken);
        await _writer.WriteAsync(type, payload, cancellationToken);
    }

    /// <summary>A run header: u64 gpa | u32 pages | u32 reserved (0).</summary>
    private static void WriteRunHeader(Span<byte> header, ulong gpa, uint pages)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(header, gpa);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], pages);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
    }

    private static void AddPageToRun(Span<byte> header) =>
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) + 1);

    /// <summary>
    /// One Memory section being built: run headers and copied pages in <see cref="Staged"/>, and
    /// between them the long runs of a paused VM, referenced in guest RAM.
    /// </summary>
    private sealed class SectionBuffer(int pageSize)
    {
        public readonly byte[] Staged = GC.AllocateUninitializedArray<byte>(MemorySectionBytes + RunHeaderBytes + pageSize);
        public byte[] Compressed = [];
        private readonly List<ReadOnlyMemory<byte>> _parts = [];
        private int _segmentStart, _runStart = -1;
        private ulong _nextGpa = ulong.MaxValue;

        /// <summary>Bytes in <see cref="Staged"/>.</summary>
        public int Used { get; private set; }

        /// <summary>The section's payload so far, staged and referenced.</summary>
        public long PayloadBytes { get; private set; }

        /// <summary>Where the page at <paramref name="gpa"/> goes if it turns out non-zero (CommitPage keeps it).</summary>
        public Span<byte> ReservePage(ulong gpa, out bool newRun)
        {
            newRun = gpa != _nextGpa || _runStart < 0;
            return Staged.AsSpan(newRun ? Used + RunHeaderBytes : Used, pageSize);
        }

        public void CommitPage(ulong gpa, bool newRun)
        {
            if (newRun)
            {
                _runStart = Used;
                WriteRunHeader(gpa, 0);
            }
            Used += pageSize;
            PayloadBytes += pageSize;
            AddPageToRun(Staged.AsSpan(_runStart));
            _nextGpa = gpa + (ulong)pageSize;
        }

        public void BreakRun() => _nextGpa = ulong.MaxValue;

        /// <summary>A run sent from guest RAM itself: its header is staged, its pages are not.</summary>
        public void AddReference(ulong gpa, ReadOnlyMemory<byte> pages, int size)
        {
            WriteRunHeader(gpa, (uint)(pages.Length / size));
            _parts.Add(Staged.AsMemory(_segmentStart, Used - _segmentStart));
            _parts.Add(pages);
            _segmentStart = Used;
            PayloadBytes += pages.Length;
            _runStart = -1;
            _nextGpa = ulong.MaxValue;
        }

        private void WriteRunHeader(ulong gpa, uint pages)
        {
            PageWriter.WriteRunHeader(Staged.AsSpan(Used), gpa, pages);
            Used += RunHeaderBytes;
            PayloadBytes += RunHeaderBytes;
        }

        /// <summary>The payload as parts to write in order (valid until <see cref="Clear"/>).</summary>
        public IReadOnlyList<ReadOnlyMemory<byte>> Parts()
        {
            var parts = new List<ReadOnlyMemory<byte>>(_parts);
            if (Used > _segmentStart) parts.Add(Staged.AsMemory(_segmentStart, Used - _segmentStart));
            return parts;
        }

        public void Clear()
        {
            _parts.Clear();
            Used = _segmentStart = 0;
            PayloadBytes = 0;
            _runStart = -1;
            _nextGpa = ulong.MaxValue;
        }
    }
}

/// <summary>How a PageWriter sends: zero pages as runs or not at all, LZ4 or plain, at what rate.</summary>
public sealed record PageWriterOptions(bool SendZeroPages = false, bool Compress = false, BandwidthLimiter? Limiter = null);
