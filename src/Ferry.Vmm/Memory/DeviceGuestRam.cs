using Ferry.Vmm.Devices.Virtio;

namespace Ferry.Vmm.Memory;

/// <summary>Guest RAM as Ferry's virtio devices use it: checked ranges, and their writes logged for migration.</summary>
public sealed class DeviceGuestRam(GuestMemory memory) : IGuestRam
{
    public Span<byte> Bytes(ulong gpa, int length)
    {
        if (length < 0 || !Contains(gpa, (ulong)length)) throw new GuestRamException($"guest range 0x{gpa:x}+0x{length:x} is not RAM");
        return memory.Span(gpa, length);
    }

    public bool Contains(ulong gpa, ulong length)
    {
        if (length > int.MaxValue) return false;
        long offset = memory.Map.HostOffset(gpa);
        if (offset < 0) return false;
        return length == 0 || (gpa + length - 1 >= gpa && memory.Map.HostOffset(gpa + length - 1) == offset + (long)length - 1);
    }

    public void Wrote(ulong gpa, int length) => memory.DeviceWrites.Mark(gpa, length);
}
