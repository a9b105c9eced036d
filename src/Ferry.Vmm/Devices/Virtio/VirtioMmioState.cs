using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.Virtio;

/// <summary>One split virtqueue as saved: its configuration and both indices.</summary>
public sealed record VirtqueueState(ushort Size, bool Ready, ulong DescGpa, ulong AvailGpa, ulong UsedGpa, ushort LastAvailIdx, ushort UsedIdx);

/// <summary>
/// The virtio-mmio transport's part of a device's saved record (each device type's record
/// embeds it, then adds its own fields):
/// <code>
/// u32 status | u64 driver (negotiated) features | u32 device features sel | u32 driver features sel
/// u32 queue sel | u32 interrupt status | u32 config generation | u32 queue count
/// per queue: u32 size | u32 ready | u64 desc | u64 avail | u64 used | u32 last avail idx | u32 used idx
/// </code>
/// A device saves only after its I/O thread has drained, so every request it took from the
/// available ring is in the used ring: last avail idx equals used idx, and a state where they
/// differ is refused (it would lose or repeat a request).
/// </summary>
public sealed record VirtioMmioState(uint Status, ulong DriverFeatures, uint DeviceFeaturesSel, uint DriverFeaturesSel, uint QueueSel,
    uint InterruptStatus, uint ConfigGeneration, VirtqueueState[] Queues)
{
    public const uint KnownStatusBits = VirtioMmioTransport.StatusAcknowledge | VirtioMmioTransport.StatusDriver | VirtioMmioTransport.StatusDriverOk
        | VirtioMmioTransport.StatusFeaturesOk | VirtioMmioTransport.StatusNeedsReset | VirtioMmioTransport.StatusFailed;
    /// <summary>More queues than any device of ours has.</summary>
    public const int MaxQueues = 16;

    public void Write(StateWriter w)
    {
        w.U32(Status); w.U64(DriverFeatures); w.U32(DeviceFeaturesSel); w.U32(DriverFeaturesSel); w.U32(QueueSel);
        w.U32(InterruptStatus); w.U32(ConfigGeneration);
        w.U32((uint)Queues.Length);
        foreach (var q in Queues)
        {
            w.U32(q.Size); w.U32(q.Ready ? 1u : 0u); w.U64(q.DescGpa); w.U64(q.AvailGpa); w.U64(q.UsedGpa);
            w.U32(q.LastAvailIdx); w.U32(q.UsedIdx);
        }
    }

    public static VirtioMmioState Read(ref StateReader r)
    {
        uint status = r.U32("status");
        if ((status & ~KnownStatusBits) != 0) throw new InvalidDataException($"status 0x{status:x} has bits virtio does not define");
        ulong features = r.U64("driver features");
        uint deviceSel = r.U32("device features sel"), driverSel = r.U32("driver features sel"), queueSel = r.U32("queue sel");
        uint interrupt = r.U32AtMost(VirtioInterrupt.UsedBuffer | VirtioInterrupt.ConfigChange, "interrupt status");
        uint generation = r.U32("config generation");
        uint count = r.U32AtMost(MaxQueues, "queue count");
        var queues = new VirtqueueState[count];
        for (int i = 0; i < count; i++)
        {
            var q = new VirtqueueState((ushort)r.U32AtMost(ushort.MaxValue, $"queue {i} size"), r.U32AtMost(1, $"queue {i} ready") == 1,
                r.U64($"queue {i} desc"), r.U64($"queue {i} avail"), r.U64($"queue {i} used"),
                (ushort)r.U32AtMost(ushort.MaxValue, $"queue {i} last avail idx"), (ushort)r.U32AtMost(ushort.MaxValue, $"queue {i} used idx"));
            if (q.LastAvailIdx != q.UsedIdx)
                throw new InvalidDataException($"queue {i}: {(ushort)(q.LastAvailIdx - q.UsedIdx)} requests in flight (last avail idx {q.LastAvailIdx}, used idx {q.UsedIdx}); a saved device has none");
            queues[i] = q;
        }
        return new VirtioMmioState(status, features, deviceSel, driverSel, queueSel, interrupt, generation, queues);
    }
}
