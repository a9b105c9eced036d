using System.Buffers.Binary;
using System.Text;

namespace Ferry.Vmm.Devices.Virtio.Blk;

/// <summary>
/// virtio-blk (virtio 1.x §5.2) on a raw image: one request queue of up to 256 entries served by
/// the disk's own I/O thread. A request is a chain: a 16-byte header (u32 type, u32 reserved,
/// u64 sector) the device reads, data, and a status byte the device writes last. The chain's
/// framing is free (virtio 1.x): the header and data may be split across buffers any way.
/// <list type="bullet">
/// <item>IN (0) reads, OUT (1) writes, FLUSH (4) is fdatasync, GET_ID (8) returns the 20-byte
/// serial, DISCARD (11) punches holes (or does nothing where the file system cannot).</item>
/// <item>A readonly disk offers VIRTIO_BLK_F_RO and answers OUT and DISCARD with IOERR.</item>
/// <item>A request outside the disk, with a bad header or buffers outside RAM fails alone
/// (IOERR); a chain that breaks the queue's rules sets DEVICE_NEEDS_RESET and the queue stops.</item>
/// </list>
/// </summary>
public sealed class VirtioBlk : IVirtioDevice, IDisposable
{
    public const uint TypeBlock = 2;
    public const ushort QueueSize = 256;
    public const int FeatureSegMax = 2, FeatureRo = 5, FeatureBlkSize = 6, FeatureFlush = 9, FeatureDiscard = 13;
    public const uint RequestIn = 0, RequestOut = 1, RequestFlush = 4, RequestGetId = 8, RequestDiscard = 11;
    public const byte StatusOk = 0, StatusIoErr = 1, StatusUnsupported = 2;
    public const int SerialBytes = 20, HeaderBytes = 16, DiscardSegmentBytes = 16;
    /// <summary>Data buffers a request may have: the queue minus the header and the status.</summary>
    public const uint SegMax = QueueSize - 2;
    public const uint MaxDiscardSectors = 0x3f_ffff, MaxDiscardSegments = 16, DiscardAlignmentSectors = 8;
    public const int ConfigBytes = 60;

    private readonly DiskImage _disk;
    private readonly IGuestRam _ram;
    private readonly VirtioInterrupt _interrupt;
    private readonly Virtqueue _queue;
    private readonly byte[] _serial = new byte[SerialBytes];
    private readonly byte[] _config = new byte[ConfigBytes];
    private volatile bool _active;

    public VirtioBlk(DiskImage disk, string serial, IGuestRam ram, VirtioInterrupt interrupt, string threadName)
    {
        _disk = disk;
        _ram = ram;
        _interrupt = interrupt;
        _queue = new Virtqueue(ram, QueueSize);
        Queues = [_queue];
        Encoding.ASCII.GetBytes(serial.AsSpan(0, Math.Min(serial.Length, SerialBytes)), _serial);
        OfferedFeatures = 1UL << VirtioMmioTransport.FeatureVersion1 | 1UL << VirtioMmioTransport.FeatureIndirectDesc
            | 1UL << FeatureSegMax | 1UL << FeatureBlkSize | 1UL << FeatureFlush | 1UL << FeatureDiscard
            | (disk.ReadOnly ? 1UL << FeatureRo : 0);
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(c, disk.CapacitySectors);       // capacity
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], SegMax);                // seg_max
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], DiskImage.SectorBytes); // blk_size
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], MaxDiscardSectors);     // max_discard_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], MaxDiscardSegments);    // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], DiscardAlignmentSectors); // discard_sector_alignment
        Worker = new VirtioWorker(threadName, ServeQueue);
    }

    public uint DeviceType => TypeBlock;
    public ulong OfferedFeatures { get; }
    public IReadOnlyList<Virtqueue> Queues { get; }
    public VirtioWorker Worker { get; }
    public DiskImage Disk => _disk;

    public void ReadConfig(uint offset, Span<byte> data)
    {
        data.Clear();
        if (offset >= ConfigBytes) return;
        var from = _config.AsSpan((int)offset);
        from[..Math.Min(from.Length, data.Length)].CopyTo(data);
    }

    /// <summary>The configuration is read-only (no VIRTIO_BLK_F_CONFIG_WCE): writes are ignored.</summary>
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }

    public void Activate(ulong features) => _active = _queue.Ready;

    public void Reset() => _active = false;

    /// <summary>The I/O thread's work: serve requests until the queue is empty or a hold is wanted.</summary>
    private void ServeQueue(Func<bool> stopWanted)
    {
        if (!_active || _interrupt.NeedsReset) return;
        bool used = false;
        try
        {
            while (!stopWanted() && _queue.TryPop(out var chain))
            {
                uint written = Serve(chain!);
                _queue.PushUsed(chain!.Head, written);
                used = true;
            }
        }
        catch (VirtqueueException)
        {
            _active = false;
            _interrupt.SignalNeedsReset();
        }
        if (used && _queue.DriverWantsInterrupt()) _interrupt.SignalUsedBuffers();
    }

    /// <summary>Serves one request; returns how many bytes the device wrote into the chain (data and status).</summary>
    internal uint Serve(DescriptorChain chain)
    {
        var status = StatusLocation(chain);
        if (status is null) return 0; // nowhere to say anything: the chain comes back untouched
        byte result;
        uint dataWritten = 0;
        try { result = Execute(chain, out dataWritten); }
        catch (Exception e) when (e is GuestRamException or IOException or Kvm.KvmException or UnauthorizedAccessException)
        {
            result = StatusIoErr;
            dataWritten = 0;
        }
        try
        {
            _ram.Bytes(status.Value, 1)[0] = result;
            _ram.Wrote(status.Value, 1);
        }
        catch (GuestRamException) { return dataWritten; }
        return dataWritten + 1;
    }

    private byte Execute(DescriptorChain chain, out uint dataWritten)
    {
        dataWritten = 0;
        Span<byte> header = stackalloc byte[HeaderBytes];
        if (chain.ReadableBytes < HeaderBytes) return StatusIoErr;
        Gather(chain.Readable, 0, header);
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        long inBytes = chain.WritableBytes - 1;          // device-writable data before the status byte
        long outBytes = chain.ReadableBytes - HeaderBytes; // device-readable data after the header
        switch (type)
        {
            case RequestIn:
                if (!InDisk(sector, inBytes)) return StatusIoErr;
                long position = (long)sector * DiskImage.SectorBytes;
                _disk.PostCopyGate?.BeforeRead(position, inBytes);
                foreach (var (gpa, length) in Segments(chain.Writable, 0, inBytes))
                {
                    _disk.Read(position, _ram.Bytes(gpa, length));
                    _ram.Wrote(gpa, length);
                    position += length;
                }
                dataWritten = (uint)inBytes;
                return StatusOk;
            case RequestOut:
                if (_disk.ReadOnly || !InDisk(sector, outBytes)) return StatusIoErr;
                position = (long)sector * DiskImage.SectorBytes;
                _disk.PostCopyGate?.BeforeWrite(position, outBytes);
                foreach (var (gpa, length) in Segments(chain.Readable, HeaderBytes, outBytes))
                {
                    _disk.Write(position, _ram.Bytes(gpa, length));
                    position += length;
                }
                return StatusOk;
            case RequestFlush:
                if (!_disk.ReadOnly) _disk.Flush();
                return StatusOk;
            case RequestGetId:
                int n = (int)Math.Min(inBytes, SerialBytes);
                if (n <= 0) return StatusIoErr;
                int done = 0;
                foreach (var (gpa, length) in Segments(chain.Writable, 0, n))
                {
                    _serial.AsSpan(done, length).CopyTo(_ram.Bytes(gpa, length));
                    _ram.Wrote(gpa, length);
                    done += length;
                }
                dataWritten = (uint)n;
                return StatusOk;
            case RequestDiscard:
                return Discard(chain, outBytes);
            default:
                return StatusUnsupported;
        }
    }

    private byte Discard(DescriptorChain chain, long outBytes)
    {
        if (_disk.ReadOnly) return StatusIoErr;
        if (outBytes <= 0 || outBytes % DiscardSegmentBytes != 0 || outBytes / DiscardSegmentBytes > MaxDiscardSegments) return StatusIoErr;
        var segments = new byte[outBytes];
        Gather(chain.Readable, HeaderBytes, segments);
        for (int i = 0; i < segments.Length; i += DiscardSegmentBytes)
        {
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(segments.AsSpan(i));
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(segments.AsSpan(i + 8));
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segments.AsSpan(i + 12));
            if ((flags & ~1u) != 0) return StatusUnsupported; // only the unmap hint is defined
            if (count > MaxDiscardSectors || !InDisk(sector, (long)count * DiskImage.SectorBytes)) return StatusIoErr;
        }
        for (int i = 0; i < segments.Length; i += DiscardSegmentBytes)
        {
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(segments.AsSpan(i));
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(segments.AsSpan(i + 8));
            if (count == 0) continue;
            _disk.PostCopyGate?.BeforeWrite((long)sector * DiskImage.SectorBytes, (long)count * DiskImage.SectorBytes);
            _disk.Discard((long)sector * DiskImage.SectorBytes, (long)count * DiskImage.SectorBytes);
        }
        return StatusOk;
    }

    /// <summary>Whether <paramref name="bytes"/> (whole sectors) from <paramref name="sector"/> lie inside the disk.</summary>
    private bool InDisk(ulong sector, long bytes) =>
        bytes >= 0 && bytes % DiskImage.SectorBytes == 0 && sector <= _disk.CapacitySectors
        && (ulong)bytes / DiskImage.SectorBytes <= _disk.CapacitySectors - sector;

    /// <summary>The guest address of the chain's status byte: the last byte the device may write.</summary>
    private static ulong? StatusLocation(DescriptorChain chain)
    {
        var last = chain.Writable.LastOrDefault(b => b.Length > 0);
        return last.Length == 0 ? null : last.Gpa + last.Length - 1;
    }

    /// <summary>Copies bytes [skip, skip + destination.Length) of the buffers' concatenation into <paramref name="destination"/>.</summary>
    private void Gather(IEnumerable<GuestBuffer> buffers, long skip, Span<byte> destination)
    {
        int done = 0;
        foreach (var (gpa, length) in Segments(buffers, skip, destination.Length))
        {
            _ram.Bytes(gpa, length).CopyTo(destination[done..]);
            done += length;
        }
    }

    /// <summary>The pieces of guest memory holding bytes [skip, skip + take) of the buffers' concatenation.</summary>
    private static IEnumerable<(ulong Gpa, int Length)> Segments(IEnumerable<GuestBuffer> buffers, long skip, long take)
    {
        foreach (var b in buffers)
        {
            if (take <= 0) yield break;
            if (skip >= b.Length) { skip -= b.Length; continue; }
            long length = Math.Min(b.Length - skip, take);
            // A descriptor is at most 4 GiB; pieces stay within what a span can hold.
            for (long at = 0; at < length; at += int.MaxValue)
                yield return (b.Gpa + (ulong)(skip + at), (int)Math.Min(int.MaxValue, length - at));
            take -= length;
            skip = 0;
        }
    }

    public void Dispose()
    {
        Worker.Dispose();
        _disk.Dispose();
    }
}
