using Ferry.Vmm.Devices.Virtio;

namespace Ferry.Vmm.Tests.Infrastructure;

/// <summary>Guest RAM for device tests: one array from guest-physical 0, and a record of what the device said it wrote.</summary>
public sealed class FakeGuestRam(int sizeBytes) : IGuestRam
{
    public byte[] Array { get; } = new byte[sizeBytes];
    public List<(ulong Gpa, int Length)> Writes { get; } = [];

    public Span<byte> Bytes(ulong gpa, int length) =>
        Contains(gpa, (ulong)length) ? Array.AsSpan((int)gpa, length) : throw new GuestRamException($"guest range 0x{gpa:x}+0x{length:x} is not RAM");

    public bool Contains(ulong gpa, ulong length) => gpa <= (ulong)Array.Length && length <= (ulong)Array.Length - gpa;

    public void Wrote(ulong gpa, int length)
    {
        lock (Writes) Writes.Add((gpa, length));
    }

    public bool WasWritten(ulong gpa)
    {
        lock (Writes) return Writes.Any(w => gpa >= w.Gpa && gpa < w.Gpa + (ulong)w.Length);
    }
}
