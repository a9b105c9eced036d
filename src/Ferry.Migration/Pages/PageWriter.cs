using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;
using K4os.Compression.LZ4;

namespace Ferry.Migration.Pages;

/// <summary>
/// Turns guest pages into Memory sections: the caller adds pages (any order, ascending is best),
/// the writer reads each one from the VM, groups consecutive non-zero pages into runs and closes
/// a section at <see cref="MemorySectionBytes"/>. A page that reads as zero is either skipped
/// (the destination's fresh RAM is already zero) or, when <see cref="PageWriterOptions.SendZeroPages"/>
/// is set, sent as a ZeroPages run (a live round resends a page the guest has cleared).
/// <code>  Memory:    (u64 gpa | u32 page count | u32 0 | page count × page bytes)*
///   ZeroPages: (u64 gpa | u32 page count | u32 0)*  </code>
/// </summary>
public sealed class PageWriter
{
    /// <summary>Payload size at which a Memory section is closed; small enough to checksum and resend cheaply.</summary>
    public const int MemorySectionBytes = 4 << 20;
    public const int RunHeaderBytes = 16;
    private const int MaxZeroRuns = 64 * 1024;

    private readonly IMigratableVm _vm;
    private readonly SectionWriter _writer;
    private readonly PageWriterOptions _options;
    private readonly int _pageSize;
    private readonly byte[] _section;
    private readonly byte[] _zeroRuns = new byte[MaxZeroRuns * RunHeaderBytes];
    private byte[] _compressed = [];
    private int _used, _runStart = -1, _zeroUsed, _zeroRunStart = -1;
    private ulong _nextGpa = ulong.MaxValue, _nextZeroGpa = ulong.MaxValue;

    public PageWriter(IMigratableVm vm, SectionWriter writer, PageWriterOptions options)
    {
        _vm = vm;
        _writer = writer;
        _options = options;
        SendZeroPages = options.SendZeroPages;
        Limiter = options.Limiter;
        _pageSize = vm.Memory.PageSize;
        _section = GC.AllocateUninitializedArray<byte>(MemorySectionBytes + RunHeaderBytes + _pageSize);
    }

    /// <summary>Whether a page that reads as zero travels as a ZeroPages run (it must once the destination may hold an older copy).</summary>
    public bool SendZeroPages { get; set; }

    /// <summary>The shared rate limit, or null for none; the stop-and-copy lifts it.</summary>
    public BandwidthLimiter? Limiter { get; set; }

    public long PagesSent { get; private set; }
    public long ZeroPages { get; private set; }
    public long BytesWritten => _writer.BytesWritten;

    /// <summary>Reads the page at <paramref name="gpa"/> now and queues it (or its zero run) for sending.</summary>
    public async ValueTask AddAsync(ulong gpa, CancellationToken cancellationToken)
    {
        if (_used + RunHeaderBytes + _pageSize > MemorySectionBytes) await FlushMemoryAsync(cancellationToken);
        bool newRun = gpa != _nextGpa || _runStart < 0;
        int slotAt = newRun ? _used + RunHeaderBytes : _used;
        var slot = _section.AsSpan(slotAt, _pageSize);
        _vm.ReadGuest(gpa, slot);
        if (!slot.ContainsAnyExcept((byte)0))
        {
            ZeroPages++;
            _nextGpa = ulong.MaxValue; // the run breaks at a zero page
            if (SendZeroPages) await AddZeroAsync(gpa, cancellationToken);
            return;
        }
        if (newRun)
        {
            _runStart = _used;
            BinaryPrimitives.WriteUInt64LittleEndian(_section.AsSpan(_used), gpa);
            BinaryPrimitives.WriteUInt64LittleEndian(_section.AsSpan(_used + 8), 0);
            _used += RunHeaderBytes;
        }
        _used += _pageSize;
        PagesSent++;
        var count = _section.AsSpan(_runStart + 8);
        BinaryPrimitives.WriteUInt32LittleEndian(count, BinaryPrimitives.ReadUInt32LittleEndian(count) + 1);
        _nextGpa = gpa + (ulong)_pageSize;
    }

    private async ValueTask AddZeroAsync(ulong gpa, CancellationToken cancellationToken)
    {
        if (gpa == _nextZeroGpa && _zeroRunStart >= 0)
        {
            var count = _zeroRuns.AsSpan(_zeroRunStart + 8);
            BinaryPrimitives.WriteUInt32LittleEndian(count, BinaryPrimitives.ReadUInt32LittleEndian(count) + 1);
        }
        else
        {
            if (_zeroUsed + RunHeaderBytes > _zeroRuns.Length) await FlushZerosAsync(cancellationToken);
            _zeroRunStart = _zeroUsed;
            BinaryPrimitives.WriteUInt64LittleEndian(_zeroRuns.AsSpan(_zeroUsed), gpa);
            BinaryPrimitives.WriteUInt64LittleEndian(_zeroRuns.AsSpan(_zeroUsed + 8), 1);
            _zeroUsed += RunHeaderBytes;
        }
        _nextZeroGpa = gpa + (ulong)_pageSize;
    }

    /// <summary>Sends whatever is queued.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await FlushMemoryAsync(cancellationToken);
        await FlushZerosAsync(cancellationToken);
    }

    private async ValueTask FlushMemoryAsync(CancellationToken cancellationToken)
    {
        if (_used == 0) return;
        if (_options.Compress)
        {
            int bound = LZ4Codec.MaximumOutputSize(_used) + 4;
            if (_compressed.Length < bound) _compressed = GC.AllocateUninitializedArray<byte>(bound);
            int n = LZ4Codec.Encode(_section, 0, _used, _compressed, 4, bound - 4, LZ4Level.L00_FAST);
            BinaryPrimitives.WriteUInt32LittleEndian(_compressed, (uint)_used);
            await SendAsync(SectionType.CompressedMemory, _compressed.AsMemory(0, n + 4), cancellationToken);
        }
        else
        {
            await SendAsync(SectionType.Memory, _section.AsMemory(0, _used), cancellationToken);
        }
        _used = 0;
        _runStart = -1;
        _nextGpa = ulong.MaxValue;
    }

    private async ValueTask FlushZerosAsync(CancellationToken cancellationToken)
    {
        if (_zeroUsed == 0) return;
        await SendAsync(SectionType.ZeroPages, _zeroRuns.AsMemory(0, _zeroUsed), cancellationToken);
        _zeroUsed = 0;
        _zeroRunStart = -1;
        _nextZeroGpa = ulong.MaxValue;
    }

    private async ValueTask SendAsync(SectionType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (Limiter is { } limiter) await limiter.WaitAsync(payload.Length, cancellationToken);
        await _writer.WriteAsync(type, payload, cancellationToken);
    }
}

/// <summary>How a PageWriter sends: zero pages as runs or not at all, LZ4 or plain, at what rate.</summary>
public sealed record PageWriterOptions(bool SendZeroPages = false, bool Compress = false, BandwidthLimiter? Limiter = null);
