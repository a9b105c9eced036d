using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.Virtio.Blk;

/// <summary>
/// What a snapshot keeps of a virtio-blk device (entry "virtio-blkN"). Raise Version when a field
/// changes meaning. Version 1: the transport's record (<see cref="VirtioMmioState"/>), then
/// u64 capacity in sectors, so a restore onto an image of another size is refused.
/// </summary>
public sealed record VirtioBlkState(VirtioMmioState Transport, ulong CapacitySectors) : IDeviceState<VirtioBlkState>
{
    public static uint Version => 1;

    public void Write(StateWriter payload)
    {
        Transport.Write(payload);
        payload.U64(CapacitySectors);
    }

    public static VirtioBlkState Read(uint version, ref StateReader payload)
    {
        var transport = VirtioMmioState.Read(ref payload);
        if (transport.Queues.Length != 1) throw new InvalidDataException($"{transport.Queues.Length} queues; virtio-blk has 1");
        if (transport.Queues[0].Size > VirtioBlk.QueueSize) throw new InvalidDataException($"queue size {transport.Queues[0].Size} is more than {VirtioBlk.QueueSize}");
        return new VirtioBlkState(transport, payload.U64("capacity"));
    }
}
