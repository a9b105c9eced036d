using System.Buffers;

namespace Ferry.Vmm.State;

/// <summary>
/// The ids under which a VM's devices save their state. They are part of the saved format: a
/// state written by one Ferry is read by another, so an id is never renamed or reused for a
/// different device. An id is 1 to 32 of a-z, 0-9 and '-'.
/// </summary>
public static class DeviceIds
{
    /// <summary>The in-kernel PIC pair and IOAPIC.</summary>
    public const string Irqchip = "irqchip";
    /// <summary>The in-kernel i8254 PIT.</summary>
    public const string Pit = "pit";
    /// <summary>kvmclock as it stood at the pause.</summary>
    public const string KvmClock = "kvmclock";
    /// <summary>The 16550 UART at COM1.</summary>
    public const string Serial0 = "serial0";

    /// <summary>The virtio-blk device of the VM's disk <paramref name="index"/> (in --disk order).</summary>
    public static string VirtioBlk(int index) => $"virtio-blk{index}";

    /// <summary>The virtio-net device of the VM's network card <paramref name="index"/> (in --net order).</summary>
    public static string VirtioNet(int index) => $"virtio-net{index}";

    public const int MaxLength = 32;

    private static readonly SearchValues<char> Allowed = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789-");

    public static bool IsValid(ReadOnlySpan<char> id) => id.Length is > 0 and <= MaxLength && !id.ContainsAnyExcept(Allowed);
}
