namespace Ferry.Vmm.Devices.Virtio;

/// <summary>The driver broke the virtqueue's rules (a ring outside RAM, a looping or oversized chain...): the device needs a reset.</summary>
public sealed class VirtqueueException(string message) : Exception(message);
