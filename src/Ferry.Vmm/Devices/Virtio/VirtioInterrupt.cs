namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// A virtio-mmio device's InterruptStatus register and its interrupt line. The I/O thread sets
/// bits and pulses the line (an irqfd: edge-triggered); a vCPU reads and acknowledges them.
/// </summary>
public sealed class VirtioInterrupt(IIrqLine line)
{
    public const uint UsedBuffer = 1, ConfigChange = 2;
    private uint _status;
    private volatile bool _needsReset;

    public uint Status => Volatile.Read(ref _status);

    /// <summary>Whether the device asked for a reset (DEVICE_NEEDS_RESET), until the driver resets it.</summary>
    public bool NeedsReset => _needsReset;

    /// <summary>The device added used buffers.</summary>
    public void SignalUsedBuffers() => Raise(UsedBuffer);

    /// <summary>The device met an error it cannot recover from alone: DEVICE_NEEDS_RESET and a configuration-change interrupt (virtio 1.x §2.1.2).</summary>
    public void SignalNeedsReset()
    {
        _needsReset = true;
        Raise(ConfigChange);
    }

    public void Acknowledge(uint bits) => Interlocked.And(ref _status, ~bits);

    /// <summary>A device reset, or a restore from a saved state.</summary>
    public void Set(uint status, bool needsReset)
    {
        Volatile.Write(ref _status, status);
        _needsReset = needsReset;
    }

    /// <summary>Pulses the line again if any InterruptStatus bit is set (after a restore: the edge may not have been saved with the irqchip).</summary>
    public void Reassert()
    {
        if (Volatile.Read(ref _status) != 0) line.Pulse();
    }

    private void Raise(uint bit)
    {
        Interlocked.Or(ref _status, bit);
        line.Pulse();
    }
}
