namespace Ferry.Vmm.Devices.Virtio;

/// <summary>One guest buffer of a descriptor chain: where, how long, and whether the device may write it.</summary>
public readonly record struct GuestBuffer(ulong Gpa, uint Length, bool DeviceWritable);

/// <summary>
/// A request popped from a virtqueue: its head index (what the used ring gives back) and its
/// buffers in order, the device-readable ones first, then the device-writable ones.
/// </summary>
public sealed class DescriptorChain(ushort head, IReadOnlyList<GuestBuffer> buffers)
{
    public ushort Head { get; } = head;
    public IReadOnlyList<GuestBuffer> Buffers { get; } = buffers;
    public IEnumerable<GuestBuffer> Readable => Buffers.Where(b => !b.DeviceWritable);
    public IEnumerable<GuestBuffer> Writable => Buffers.Where(b => b.DeviceWritable);
    public long ReadableBytes => Readable.Sum(b => (long)b.Length);
    public long WritableBytes => Writable.Sum(b => (long)b.Length);
}
