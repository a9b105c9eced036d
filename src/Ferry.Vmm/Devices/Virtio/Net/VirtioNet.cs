using Ferry.Api;
using System.Buffers.Binary;
using Ferry.Kvm;

namespace Ferry.Vmm.Devices.Virtio.Net;

/// <summary>
/// virtio-net (virtio 1.x §5.1) on a tap: queue 0 receives, queue 1 transmits, 256 entries each;
/// every frame on both queues has the 12-byte virtio_net_hdr_v1 in front, which is also the tap's
/// vnet header, so a frame crosses with one copy each way. One I/O thread per card, woken by the
/// transmit (and receive) notify and by the tap turning readable, serves both queues and signals
/// one interrupt per batch.
/// <list type="bullet">
/// <item>Offered: VERSION_1, INDIRECT_DESC, MAC, STATUS (link up), MTU (1500), CSUM, GUEST_CSUM,
/// HOST_TSO4/6, GUEST_TSO4/6. Offloads act only when negotiated: the tap is told (TUNSETOFFLOAD)
/// which ones the guest takes, and a transmit header asking for one it did not negotiate is
/// dropped. Without any, frames go both ways whole and checksummed.</item>
/// <item>A received frame goes into the next posted chain if it fits (header + frame); one
/// that does not is dropped and counted, and the chain stays posted. With no chain posted, up to
/// <see cref="MaxPendingFrames"/> frames wait in the VMM; more are dropped and counted.</item>
/// <item>At a pause (<see cref="FlushTransmit"/>) every frame the driver made available is
/// sent before the state is saved; receive buffers are not touched while paused.</item>
/// </list>
/// </summary>
public sealed class VirtioNet : IVirtioDevice, IDisposable
{
    public const uint TypeNet = 1;
    public const ushort QueueSize = 256;
    public const int ReceiveQueue = 0, TransmitQueue = 1;
    public const int FeatureCsum = 0, FeatureGuestCsum = 1, FeatureMtu = 3, FeatureMac = 5, FeatureGuestTso4 = 7, FeatureGuestTso6 = 8,
        FeatureHostTso4 = 11, FeatureHostTso6 = 12, FeatureStatus = 16;
    public const int HeaderBytes = TapDevice.VnetHeaderBytes;
    public const ushort Mtu = 1500, StatusLinkUp = 1;
    /// <summary>struct virtio_net_config up to mtu: mac[6], status, max_virtqueue_pairs, mtu.</summary>
    public const int ConfigBytes = 12;
    public const byte HeaderNeedsCsum = 1, HeaderDataValid = 2;
    public const byte GsoNone = 0, GsoTcpV4 = 1, GsoTcpV6 = 4, GsoEcn = 0x80;
    /// <summary>Frames kept while the driver has no receive buffer posted; more are dropped.</summary>
    public const int MaxPendingFrames = 64;
    /// <summary>How much one pass moves each way before it signals and looks again, so a flood in one direction starves neither the other nor the interrupt.</summary>
    private const int BatchFrames = QueueSize;
    /// <summary>The largest frame a tap hands over (a 64 KiB TSO segment with its headers) behind its header.</summary>
    private const int MaxFrameBytes = HeaderBytes + 65_550;

    private readonly IGuestRam _ram;
    private readonly VirtioInterrupt _interrupt;
    private readonly Virtqueue _rx, _tx;
    private readonly byte[] _config = new byte[ConfigBytes];
    private readonly byte[] _rxBuffer = new byte[MaxFrameBytes], _txBuffer = new byte[MaxFrameBytes];
    private readonly Queue<byte[]> _pending = new();
    private volatile TapDevice? _tap;
    private volatile bool _active;
    private ulong _features;
    private long _rxDropped, _rxTooBig, _txDropped, _rxFrames, _txFrames;

    public VirtioNet(MacAddress mac, TapDevice? tap, IGuestRam ram, VirtioInterrupt interrupt, string threadName)
    {
        Mac = mac;
        _tap = tap;
        _ram = ram;
        _interrupt = interrupt;
        _rx = new Virtqueue(ram, QueueSize);
        _tx = new Virtqueue(ram, QueueSize);
        Queues = [_rx, _tx];
        OfferedFeatures = 1UL << VirtioMmioTransport.FeatureVersion1 | 1UL << VirtioMmioTransport.FeatureIndirectDesc
            | 1UL << FeatureMac | 1UL << FeatureStatus | 1UL << FeatureMtu
            | 1UL << FeatureCsum | 1UL << FeatureGuestCsum | 1UL << FeatureHostTso4 | 1UL << FeatureHostTso6
            | 1UL << FeatureGuestTso4 | 1UL << FeatureGuestTso6;
        mac.CopyTo(_config);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(6), StatusLinkUp);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(8), 1); // max_virtqueue_pairs (meaningful only with MQ)
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(10), Mtu);
        Worker = new VirtioWorker(threadName, Serve, () => _tap);
    }

    public uint DeviceType => TypeNet;
    public ulong OfferedFeatures { get; }
    public IReadOnlyList<Virtqueue> Queues { get; }
    public VirtioWorker Worker { get; }
    public MacAddress Mac { get; }
    public ushort LinkStatus => StatusLinkUp;
    public TapDevice? Tap => _tap;

    /// <summary>Frames dropped on the way in: no buffer and the pending queue full, or the device not running.</summary>
    public long ReceiveDropped => Interlocked.Read(ref _rxDropped);
    /// <summary>Frames dropped on the way in because the posted buffer was too small.</summary>
    public long ReceiveTooBig => Interlocked.Read(ref _rxTooBig);
    /// <summary>Frames the guest sent that never reached the tap (a bad header, the tap refused it).</summary>
    public long TransmitDropped => Interlocked.Read(ref _txDropped);
    public long ReceivedFrames => Interlocked.Read(ref _rxFrames);
    public long TransmittedFrames => Interlocked.Read(ref _txFrames);

    public void ReadConfig(uint offset, Span<byte> data)
    {
        data.Clear();
        if (offset >= ConfigBytes) return;
        var from = _config.AsSpan((int)offset);
        from[..Math.Min(from.Length, data.Length)].CopyTo(data);
    }

    /// <summary>The MAC is the VMM's (no VIRTIO_NET_F_CTRL_MAC_ADDR); writes are ignored.</summary>
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }

    public void Activate(ulong features)
    {
        _features = features;
        _active = _rx.Ready && _tx.Ready;
        ApplyOffload();
    }

    public void Reset()
    {
        _active = false;
        _features = 0;
        lock (_pending) _pending.Clear();
        ApplyOffload();
    }

    private bool Negotiated(int feature) => (_features & (1UL << feature)) != 0;

    /// <summary>What the tap may hand us: only the offloads the guest's driver takes.</summary>
    private uint TapOffload()
    {
        if (!_active || !Negotiated(FeatureGuestCsum)) return 0;
        uint offload = TapDevice.OffloadCsum;
        if (Negotiated(FeatureGuestTso4)) offload |= TapDevice.OffloadTso4;
        if (Negotiated(FeatureGuestTso6)) offload |= TapDevice.OffloadTso6;
        return offload;
    }

    private void ApplyOffload() => _tap?.SetOffload(TapOffload());

    /// <summary>Gives the device its tap (after a restore, or again at a migration source that failed). Call with the worker quiesced.</summary>
    public void AttachTap(TapDevice tap)
    {
        _tap = tap;
        ApplyOffload();
    }

    /// <summary>Takes the tap away and returns it, to be closed: a migration's source lets go of it. Call with the worker quiesced.</summary>
    public TapDevice? DetachTap()
    {
        var tap = _tap;
        _tap = null;
        return tap;
    }

    /// <summary>
    /// Sends every frame the driver has made available, on the caller's thread; called at a
    /// pause with the worker quiesced, so a saved state has nothing waiting to be sent.
    /// </summary>
    public void FlushTransmit()
    {
        if (!_active || _interrupt.NeedsReset) return;
        try
        {
            if (Transmit(int.MaxValue) > 0 && _tx.DriverWantsInterrupt()) _interrupt.SignalUsedBuffers();
        }
        catch (VirtqueueException) { Broken(); }
    }

    /// <summary>The I/O thread's work: one batch each way, then one interrupt for both.</summary>
    private void Serve(Func<bool> stopWanted)
    {
        if (!_active || _interrupt.NeedsReset)
        {
            DrainTap();
            return;
        }
        int sent = 0, received = 0;
        try
        {
            if (!stopWanted()) sent = Transmit(BatchFrames);
            if (!stopWanted()) received = Receive(BatchFrames, stopWanted);
        }
        catch (VirtqueueException) { Broken(); return; }
        if ((sent > 0 && _tx.DriverWantsInterrupt()) | (received > 0 && _rx.DriverWantsInterrupt())) _interrupt.SignalUsedBuffers();
    }

    private void Broken()
    {
        _active = false;
        _interrupt.SignalNeedsReset();
    }

    /// <summary>A device the driver has not started (or has broken) drops what arrives, as a card with no driver would.</summary>
    private void DrainTap()
    {
        var tap = _tap;
        if (tap is null) return;
        while (tap.Read(_rxBuffer) > 0) Interlocked.Increment(ref _rxDropped);
    }

    /// <summary>Takes up to <paramref name="limit"/> transmit chains to the tap; returns how many were used.</summary>
    private int Transmit(int limit)
    {
        int used = 0;
        while (used < limit && _tx.TryPop(out var chain))
        {
            if (SendChain(chain!)) Interlocked.Increment(ref _txFrames);
            else Interlocked.Increment(ref _txDropped);
            _tx.PushUsed(chain!.Head, 0);
            used++;
        }
        return used;
    }

    private bool SendChain(DescriptorChain chain)
    {
        long length = chain.ReadableBytes;
        if (length < HeaderBytes || length > _txBuffer.Length) return false;
        int done = 0;
        try
        {
            foreach (var b in chain.Readable)
            {
                _ram.Bytes(b.Gpa, (int)b.Length).CopyTo(_txBuffer.AsSpan(done));
                done += (int)b.Length;
            }
        }
        catch (GuestRamException) { return false; }
        var header = _txBuffer.AsSpan(0, HeaderBytes);
        // Offloads the driver did not negotiate must not reach the tap: the host would trust them.
        if ((header[0] & HeaderNeedsCsum) != 0 && !Negotiated(FeatureCsum)) return false;
        byte gso = (byte)(header[1] & ~GsoEcn);
        if (gso != GsoNone
            && !(gso == GsoTcpV4 && Negotiated(FeatureHostTso4)) && !(gso == GsoTcpV6 && Negotiated(FeatureHostTso6))) return false;
        BinaryPrimitives.WriteUInt16LittleEndian(header[10..], 0); // num_buffers: the device's field, not sent
        var tap = _tap;
        return tap is not null && tap.Write(_txBuffer.AsSpan(0, done));
    }

    /// <summary>Moves frames from the pending queue and the tap into posted buffers; returns how many chains were used.</summary>
    private int Receive(int limit, Func<bool> stopWanted)
    {
        int used = 0;
        lock (_pending)
        {
            while (used < limit && _pending.Count > 0)
            {
                var outcome = Deliver(_pending.Peek());
                if (outcome == Delivery.NoBuffer) break;
                _pending.Dequeue();
                if (outcome == Delivery.Delivered) used++;
            }
            var tap = _tap;
            if (tap is null) return used;
            int read = 0;
            while (read < limit && !stopWanted())
            {
                int n = tap.Read(_rxBuffer);
                if (n == 0) break;
                read++;
                if (n < HeaderBytes) continue;
                var frame = _rxBuffer.AsSpan(0, n);
                var outcome = _pending.Count == 0 ? Deliver(frame) : Delivery.NoBuffer;
                if (outcome == Delivery.Delivered) used++;
                else if (outcome == Delivery.NoBuffer)
                {
                    if (_pending.Count < MaxPendingFrames) _pending.Enqueue(frame.ToArray());
                    else Interlocked.Increment(ref _rxDropped);
                }
            }
        }
        return used;
    }

    private enum Delivery { Delivered, NoBuffer, Dropped }

    /// <summary>Puts one frame (tap header included) into the next posted receive chain.</summary>
    private Delivery Deliver(Span<byte> frame)
    {
        if (!_rx.TryPop(out var chain)) return Delivery.NoBuffer;
        if (chain!.WritableBytes < frame.Length || chain.ReadableBytes != 0)
        {
            _rx.UndoPop();
            Interlocked.Increment(ref _rxTooBig);
            return Delivery.Dropped;
        }
        // Without GUEST_CSUM the flags must be zero (virtio 1.x §5.1.6.4.1): the frame is whole.
        if (!Negotiated(FeatureGuestCsum)) frame[0] = 0;
        // num_buffers: one chain (no MRG_RXBUF). The tap leaves these two bytes unwritten.
        BinaryPrimitives.WriteUInt16LittleEndian(frame[10..], 1);
        int done = 0;
        try
        {
            foreach (var b in chain.Writable)
            {
                if (done == frame.Length) break;
                int n = (int)Math.Min(b.Length, (uint)(frame.Length - done));
                frame.Slice(done, n).CopyTo(_ram.Bytes(b.Gpa, n));
                _ram.Wrote(b.Gpa, n);
                done += n;
            }
        }
        catch (GuestRamException)
        {
            // The buffer is not RAM: the frame is lost, the chain comes back empty.
            _rx.PushUsed(chain.Head, 0);
            Interlocked.Increment(ref _rxDropped);
            return Delivery.Delivered;
        }
        _rx.PushUsed(chain.Head, (uint)done);
        Interlocked.Increment(ref _rxFrames);
        return Delivery.Delivered;
    }

    public void Dispose()
    {
        Worker.Dispose();
        _tap?.Dispose();
    }
}
