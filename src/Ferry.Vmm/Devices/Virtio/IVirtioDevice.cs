namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// What the virtio-mmio transport needs of a device type (virtio-blk, later virtio-net): its id,
/// the features it offers, its queues, its configuration space and its I/O thread. The transport
/// owns negotiation and the register file; the device owns what the queues mean.
/// </summary>
public interface IVirtioDevice
{
    /// <summary>The virtio device id (virtio 1.x §5): 2 for a block device.</summary>
    uint DeviceType { get; }

    /// <summary>Every feature bit the device offers, VIRTIO_F_VERSION_1 included.</summary>
    ulong OfferedFeatures { get; }

    IReadOnlyList<Virtqueue> Queues { get; }

    VirtioWorker Worker { get; }

    void ReadConfig(uint offset, Span<byte> data);

    void WriteConfig(uint offset, ReadOnlySpan<byte> data);

    /// <summary>The driver set DRIVER_OK with these features: the device may use its ready queues. Called with the worker quiesced.</summary>
    void Activate(ulong features);

    /// <summary>The driver reset the device: forget the negotiated features. Called with the worker quiesced; the transport resets the queues.</summary>
    void Reset();
}
