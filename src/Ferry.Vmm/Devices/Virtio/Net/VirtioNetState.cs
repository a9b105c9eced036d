using Ferry.Api;
using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.Virtio.Net;

/// <summary>
/// What a snapshot keeps of a virtio-net device (entry "virtio-netN"). Raise Version when a field
/// changes meaning. Version 1: the transport's record (<see cref="VirtioMmioState"/>, two queues:
/// receive, transmit), then u64 MAC (the six bytes in the low 48 bits, first byte highest) and
/// u32 link status. Frames waiting in the VMM are not kept: the transmit queue was flushed at the
/// pause, and what had arrived for a guest with no buffer posted is lost, as on a wire.
/// </summary>
public sealed record VirtioNetState(VirtioMmioState Transport, MacAddress Mac, ushort LinkStatus) : IDeviceState<VirtioNetState>
{
    public static uint Version => 1;

    public void Write(StateWriter payload)
    {
        Transport.Write(payload);
        payload.U64(Mac.Value);
        payload.U32(LinkStatus);
    }

    public static VirtioNetState Read(uint version, ref StateReader payload)
    {
        var transport = VirtioMmioState.Read(ref payload);
        if (transport.Queues.Length != 2) throw new InvalidDataException($"{transport.Queues.Length} queues; virtio-net has 2");
        for (int i = 0; i < 2; i++)
            if (transport.Queues[i].Size > VirtioNet.QueueSize) throw new InvalidDataException($"queue {i}: size {transport.Queues[i].Size} is more than {VirtioNet.QueueSize}");
        ulong mac = payload.U64("mac");
        if (mac >> 48 != 0) throw new InvalidDataException($"mac 0x{mac:x} is more than 48 bits");
        if (!new MacAddress(mac).IsUsableByCard) throw new InvalidDataException($"mac {new MacAddress(mac)} is not a unicast address");
        uint link = payload.U32AtMost(VirtioNet.StatusLinkUp, "link status");
        return new VirtioNetState(transport, new MacAddress(mac), (ushort)link);
    }
}
