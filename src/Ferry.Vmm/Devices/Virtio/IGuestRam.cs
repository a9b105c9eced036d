namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// Guest RAM as a virtio device sees it: the guest hands the device addresses, so every access
/// is checked (<see cref="GuestRamException"/>), and every write the device makes is reported
/// afterwards, because KVM's dirty log sees only vCPU writes.
/// </summary>
public interface IGuestRam
{
    /// <summary>The bytes at [gpa, gpa + length), which must lie inside one RAM region; else GuestRamException.</summary>
    Span<byte> Bytes(ulong gpa, int length);

    /// <summary>Whether [gpa, gpa + length) lies inside one RAM region.</summary>
    bool Contains(ulong gpa, ulong length);

    /// <summary>Call after writing [gpa, gpa + length): a migration in progress sends those pages again.</summary>
    void Wrote(ulong gpa, int length);
}

/// <summary>The guest named memory that is not RAM. The request or queue that named it fails; the VMM goes on.</summary>
public sealed class GuestRamException(string message) : Exception(message);
