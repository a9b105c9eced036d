using System.Buffers.Binary;

namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// The virtio-mmio transport, version 2 (virtio 1.x §4.2.2, the "modern" register layout): one
/// 4 KiB window per device, the registers below, the device's configuration space from 0x100.
/// <code>
/// 0x000 MagicValue "virt"  0x004 Version 2       0x008 DeviceID         0x00c VendorID
/// 0x010 DeviceFeatures     0x014 DeviceFeaturesSel  0x020 DriverFeatures  0x024 DriverFeaturesSel
/// 0x030 QueueSel           0x034 QueueNumMax     0x038 QueueNum         0x044 QueueReady
/// 0x050 QueueNotify        0x060 InterruptStatus 0x064 InterruptACK     0x070 Status
/// 0x080/0x084 QueueDesc    0x090/0x094 QueueDriver (avail)   0x0a0/0x0a4 QueueDevice (used)
/// 0x0fc ConfigGeneration   0x100... device configuration
/// </code>
/// Negotiation: the driver reads DeviceFeatures, writes the subset it accepts, sets FEATURES_OK;
/// the device keeps FEATURES_OK only if that subset is one it offered and includes
/// VIRTIO_F_VERSION_1. DRIVER_OK activates the device. Writing 0 to Status resets it. A queue's
/// rings are checked against guest RAM at DRIVER_OK; a bad one sets DEVICE_NEEDS_RESET.
/// QueueNotify normally never gets here: KVM signals the device's eventfd itself (ioeventfd).
/// </summary>
public sealed class VirtioMmioTransport : IMmioDevice
{
    public const ulong WindowBytes = 0x1000;
    public const uint MagicValue = 0x7472_6976, Version = 2, VendorId = 0x5952_5246; // the bytes "FRRY"
    public const uint StatusAcknowledge = 1, StatusDriver = 2, StatusDriverOk = 4, StatusFeaturesOk = 8,
        StatusNeedsReset = 64, StatusFailed = 128;
    public const int FeatureVersion1 = 32, FeatureIndirectDesc = 28;
    public const ulong QueueNotifyOffset = 0x50;

    private readonly IVirtioDevice _device;
    private readonly IGuestRam _ram;
    private readonly VirtioInterrupt _interrupt;
    private readonly object _lock = new();
    private uint _status, _deviceFeaturesSel, _driverFeaturesSel, _queueSel, _configGeneration;
    private ulong _driverFeatures;

    public VirtioMmioTransport(IVirtioDevice device, IGuestRam ram, VirtioInterrupt interrupt)
    {
        _device = device;
        _ram = ram;
        _interrupt = interrupt;
    }

    public IVirtioDevice Device => _device;

    /// <summary>Status as the driver reads it: what it wrote, plus DEVICE_NEEDS_RESET once the device set it.</summary>
    public uint Status { get { lock (_lock) return StatusRead(); } }

    private uint StatusRead() => _status | (_interrupt.NeedsReset ? StatusNeedsReset : 0);

    public void Read(ulong offset, Span<byte> data)
    {
        if (offset >= 0x100)
        {
            _device.ReadConfig((uint)(offset - 0x100), data);
            return;
        }
        uint value;
        lock (_lock) value = Register(offset);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        data.Clear();
        bytes[..Math.Min(4, data.Length)].CopyTo(data);
    }

    private uint Register(ulong offset)
    {
        var queue = SelectedQueue;
        return offset switch
        {
            0x000 => MagicValue,
            0x004 => Version,
            0x008 => _device.DeviceType,
            0x00c => VendorId,
            0x010 => _deviceFeaturesSel switch
            {
                0 => (uint)_device.OfferedFeatures,
                1 => (uint)(_device.OfferedFeatures >> 32),
                _ => 0,
            },
            0x034 => queue?.MaxSize ?? 0u,
            0x044 => queue is { Ready: true } ? 1u : 0u,
            0x060 => _interrupt.Status,
            0x070 => StatusRead(),
            0x0fc => _configGeneration,
            0x0b0 or 0x0b4 or 0x0b8 or 0x0bc => 0xffff_ffff, // SHMLen/SHMBase: no shared memory regions
            _ => 0,
        };
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset >= 0x100)
        {
            _device.WriteConfig((uint)(offset - 0x100), data);
            return;
        }
        if (offset == QueueNotifyOffset)
        {
            _device.Worker.Notify();
            return;
        }
        Span<byte> bytes = stackalloc byte[4];
        data[..Math.Min(4, data.Length)].CopyTo(bytes);
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        lock (_lock) WriteRegister(offset, value);
    }

    private void WriteRegister(ulong offset, uint value)
    {
        var queue = SelectedQueue;
        bool queueConfigurable = queue is { Ready: false } && (_status & StatusDriverOk) == 0;
        switch (offset)
        {
            case 0x014: _deviceFeaturesSel = value; break;
            case 0x020:
                if ((_status & StatusFeaturesOk) != 0) break; // features are fixed once accepted
                if (_driverFeaturesSel == 0) _driverFeatures = (_driverFeatures & 0xffff_ffff_0000_0000) | value;
                else if (_driverFeaturesSel == 1) _driverFeatures = (_driverFeatures & 0xffff_ffff) | ((ulong)value << 32);
                break;
            case 0x024: _driverFeaturesSel = value; break;
            case 0x030: _queueSel = value; break;
            case 0x038: if (queueConfigurable && value is > 0 and <= ushort.MaxValue && value <= queue!.MaxSize) queue.Size = (ushort)value; break;
            case 0x044: if (queue is not null && (_status & StatusDriverOk) == 0) queue.Ready = value == 1; break;
            case 0x064: _interrupt.Acknowledge(value); break;
            case 0x070: WriteStatus(value); break;
            case 0x080: if (queueConfigurable) queue!.DescGpa = Low(queue.DescGpa, value); break;
            case 0x084: if (queueConfigurable) queue!.DescGpa = High(queue.DescGpa, value); break;
            case 0x090: if (queueConfigurable) queue!.AvailGpa = Low(queue.AvailGpa, value); break;
            case 0x094: if (queueConfigurable) queue!.AvailGpa = High(queue.AvailGpa, value); break;
            case 0x0a0: if (queueConfigurable) queue!.UsedGpa = Low(queue.UsedGpa, value); break;
            case 0x0a4: if (queueConfigurable) queue!.UsedGpa = High(queue.UsedGpa, value); break;
        }
    }

    private static ulong Low(ulong old, uint value) => (old & 0xffff_ffff_0000_0000) | value;
    private static ulong High(ulong old, uint value) => (old & 0xffff_ffff) | ((ulong)value << 32);

    private Virtqueue? SelectedQueue => _queueSel < _device.Queues.Count ? _device.Queues[(int)_queueSel] : null;

    private void WriteStatus(uint value)
    {
        if (value == 0)
        {
            ResetDevice();
            return;
        }
        value &= ~StatusNeedsReset; // the device's bit, not the driver's
        uint added = value & ~_status;
        if ((added & StatusFeaturesOk) != 0 && !FeaturesAcceptable(_driverFeatures)) value &= ~StatusFeaturesOk;
        if ((added & StatusDriverOk) != 0)
        {
            if ((value & StatusFeaturesOk) == 0) value &= ~StatusDriverOk;
            else if (!TryActivate()) value &= ~StatusDriverOk;
        }
        _status = value;
    }

    private bool FeaturesAcceptable(ulong features) =>
        (features & ~_device.OfferedFeatures) == 0 && (features & (1UL << FeatureVersion1)) != 0;

    private bool TryActivate()
    {
        foreach (var q in _device.Queues.Where(q => q.Ready))
        {
            if (Virtqueue.CheckLayout(q.Size, q.MaxSize, q.DescGpa, q.AvailGpa, q.UsedGpa, _ram.Contains) is not null)
            {
                _interrupt.SignalNeedsReset();
                return false;
            }
        }
        var worker = _device.Worker;
        worker.Quiesce();
        try
        {
            foreach (var q in _device.Queues) q.IndirectAllowed = (_driverFeatures & (1UL << FeatureIndirectDesc)) != 0;
            _device.Activate(_driverFeatures);
        }
        finally { worker.Release(); }
        return true;
    }

    private void ResetDevice()
    {
        var worker = _device.Worker;
        worker.Quiesce();
        try
        {
            _device.Reset();
            foreach (var q in _device.Queues) q.Reset();
            _status = 0;
            _driverFeatures = 0;
            _deviceFeaturesSel = _driverFeaturesSel = _queueSel = 0;
            _interrupt.Set(0, needsReset: false);
        }
        finally { worker.Release(); }
    }

    /// <summary>The transport's part of a saved state. Call with the worker quiesced (the VM paused).</summary>
    public VirtioMmioState Save()
    {
        lock (_lock)
        {
            return new VirtioMmioState(StatusRead(), _driverFeatures, _deviceFeaturesSel, _driverFeaturesSel, _queueSel,
                _interrupt.Status, _configGeneration,
                [.. _device.Queues.Select(q => new VirtqueueState(q.Size, q.Ready, q.DescGpa, q.AvailGpa, q.UsedGpa, q.LastAvailIdx, q.UsedIdx))]);
        }
    }

    /// <summary>
    /// Why <paramref name="state"/> cannot be restored into this device (features it does not
    /// offer, queues it does not have, rings outside guest RAM), or null. Checked before anything
    /// of the VM changes.
    /// </summary>
    public string? CheckRestorable(VirtioMmioState state)
    {
        if (state.Queues.Length != _device.Queues.Count)
            return $"{state.Queues.Length} queues saved, the device has {_device.Queues.Count}";
        if ((state.DriverFeatures & ~_device.OfferedFeatures) != 0)
            return $"negotiated features 0x{state.DriverFeatures:x} include some this device does not offer (0x{_device.OfferedFeatures:x}); is a readonly disk now writable or the reverse?";
        if ((state.Status & StatusFeaturesOk) != 0 && !FeaturesAcceptable(state.DriverFeatures))
            return $"negotiated features 0x{state.DriverFeatures:x} lack VIRTIO_F_VERSION_1";
        for (int i = 0; i < state.Queues.Length; i++)
        {
            var q = state.Queues[i];
            if (q.Size == 0 || q.Size > _device.Queues[i].MaxSize) return $"queue {i}: size {q.Size} is not 1 to {_device.Queues[i].MaxSize}";
            if (q.Ready && (state.Status & StatusDriverOk) != 0
                && Virtqueue.CheckLayout(q.Size, _device.Queues[i].MaxSize, q.DescGpa, q.AvailGpa, q.UsedGpa, _ram.Contains) is { } why)
                return $"queue {i}: {why}";
        }
        return null;
    }

    /// <summary>Raises the device's interrupt again if its InterruptStatus has bits set (see <see cref="VirtioInterrupt.Reassert"/>).</summary>
    public void ReassertInterrupt() => _interrupt.Reassert();

    /// <summary>Takes a saved state (checked by <see cref="CheckRestorable"/>); the VM is not running.</summary>
    public void Restore(VirtioMmioState state)
    {
        if (CheckRestorable(state) is { } why) throw new InvalidDataException(why);
        var worker = _device.Worker;
        worker.Quiesce();
        try
        {
            lock (_lock)
            {
                _device.Reset();
                _status = state.Status & ~StatusNeedsReset;
                _driverFeatures = state.DriverFeatures;
                _deviceFeaturesSel = state.DeviceFeaturesSel;
                _driverFeaturesSel = state.DriverFeaturesSel;
                _queueSel = state.QueueSel;
                _configGeneration = state.ConfigGeneration;
                _interrupt.Set(state.InterruptStatus, (state.Status & StatusNeedsReset) != 0);
                for (int i = 0; i < state.Queues.Length; i++)
                {
                    var s = state.Queues[i];
                    var q = _device.Queues[i];
                    q.Size = s.Size;
                    q.Ready = s.Ready;
                    q.DescGpa = s.DescGpa;
                    q.AvailGpa = s.AvailGpa;
                    q.UsedGpa = s.UsedGpa;
                    q.LastAvailIdx = s.LastAvailIdx;
                    q.UsedIdx = s.UsedIdx;
                    q.IndirectAllowed = (_driverFeatures & (1UL << FeatureIndirectDesc)) != 0;
                }
                if ((_status & StatusDriverOk) != 0 && !_interrupt.NeedsReset) _device.Activate(_driverFeatures);
            }
        }
        finally { worker.Release(); } // rescans the queues: a notify the source took but never served is served here
    }
}
