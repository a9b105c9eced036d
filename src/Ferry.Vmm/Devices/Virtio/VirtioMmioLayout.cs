namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// Where a VM's virtio-mmio devices sit, shared with the test guest's driver (docs/devices.md):
/// device k (disks first, then network cards) has the 4 KiB window at 0xD000_0000 + k * 0x1000
/// and GSI 16 + k (an IOAPIC pin, edge-triggered, active high). The guest finds them in the DSDT
/// (_HID "LNRO0005") and on the kernel command line (virtio_mmio.device=4K@ADDR:GSI).
/// </summary>
public static class VirtioMmioLayout
{
    public const ulong BaseGpa = 0xD000_0000;
    public const uint FirstGsi = 16;

    public static ulong Gpa(int index) => BaseGpa + (ulong)index * VirtioMmioTransport.WindowBytes;

    public static uint Gsi(int index) => FirstGsi + (uint)index;

    /// <summary>Linux's syntax for a virtio-mmio device on the command line (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).</summary>
    public static string KernelParameter(int index) => $"virtio_mmio.device=4K@0x{Gpa(index):x}:{Gsi(index)}";

    /// <summary>
    /// <paramref name="commandLine"/> with a parameter per device added: at the end, or before
    /// " -- " where one ends the kernel's part (what follows it is the init program's).
    /// </summary>
    public static string WithDevices(string commandLine, int deviceCount)
    {
        if (deviceCount == 0) return commandLine;
        string parameters = string.Join(' ', Enumerable.Range(0, deviceCount).Select(KernelParameter));
        int split = commandLine.IndexOf(" -- ", StringComparison.Ordinal);
        if (commandLine.StartsWith("-- ", StringComparison.Ordinal)) split = 0;
        if (split < 0) return commandLine.Length == 0 ? parameters : $"{commandLine} {parameters}";
        return split == 0 ? $"{parameters} {commandLine}" : $"{commandLine[..split]} {parameters}{commandLine[split..]}";
    }
}
