namespace Ferry.Vmm;

/// <summary>What a VM is made of. Validated by <see cref="Validate"/> before anything is created.</summary>
public sealed record VmConfig(string Name, string KernelPath, string? InitrdPath, ulong MemoryBytes, int CpuCount, string CommandLine)
{
    public const int MaxCpus = 32;

    /// <summary>The VM's disks, in device order (virtio-mmio slot 0, 1, ...). Configurations saved before disks existed have none.</summary>
    public DiskConfig[] Disks { get => _disks; init => _disks = value ?? []; }
    private readonly DiskConfig[] _disks = [];

    /// <summary>The VM's network cards, in device order after the disks. Configurations saved before cards existed have none.</summary>
    public NetConfig[] Nets { get => _nets; init => _nets = value ?? []; }
    private readonly NetConfig[] _nets = [];

    /// <summary>How many virtio-mmio devices the VM has: disks first (slots 0..), then network cards.</summary>
    public int VirtioDeviceCount => Disks.Length + Nets.Length;

    /// <summary>virtio-mmio devices get GSIs 16 to 23, the IOAPIC's pins above the ISA ones.</summary>
    public const int MaxVirtioDevices = 8;

    /// <summary>Throws VmConfigException with a one-line reason for the first thing wrong.</summary>
    public void Validate(ulong hostMemoryBytes)
    {
        ValidateShape(hostMemoryBytes);
        if (!File.Exists(KernelPath)) throw new VmConfigException($"kernel {KernelPath}: no such file");
        if (InitrdPath is not null && !File.Exists(InitrdPath)) throw new VmConfigException($"initrd {InitrdPath}: no such file");
        if (CommandLine.Contains('\0')) throw new VmConfigException("the command line contains a NUL byte");
        int bootBytes = System.Text.Encoding.UTF8.GetByteCount(BootCommandLine());
        if (bootBytes >= Boot.BootLayout.CommandLineCapacity)
            throw new VmConfigException($"the command line with the devices' parameters is {bootBytes} bytes; at most {Boot.BootLayout.CommandLineCapacity - 1} fit");
    }

    /// <summary>The command line the kernel gets: <see cref="CommandLine"/> with each virtio-mmio device's parameter.</summary>
    public string BootCommandLine() => Devices.Virtio.VirtioMmioLayout.WithDevices(CommandLine, VirtioDeviceCount);

    /// <summary>The longest path a configuration may name (PATH_MAX).</summary>
    public const int MaxPathLength = 4096;

    /// <summary>
    /// The checks that also apply to a VM restored from an image (whose configuration may come
    /// from a peer or a damaged file): name, vCPUs, memory and the limits of every field. Not
    /// whether the boot files exist: a restored guest's kernel is already in its RAM, and the
    /// destination host need not hold the source's files; their paths are only recorded.
    /// </summary>
    public void ValidateShape(ulong hostMemoryBytes)
    {
        VmName.Check(Name, "the configuration");
        CheckPath(KernelPath, "kernel", required: true);
        CheckPath(InitrdPath, "initrd", required: false);
        if (CommandLine is null) throw new VmConfigException("the configuration has no command line");
        int commandLineBytes = System.Text.Encoding.UTF8.GetByteCount(CommandLine);
        if (commandLineBytes >= Boot.BootLayout.CommandLineCapacity)
            throw new VmConfigException($"the command line is {commandLineBytes} bytes; at most {Boot.BootLayout.CommandLineCapacity - 1} fit");
        if (CpuCount < 1 || CpuCount > MaxCpus)
            throw new VmConfigException($"--cpus {CpuCount} is not supported: choose 1 to {MaxCpus}");
        if (Disks is null) throw new VmConfigException("the configuration's disk list is null");
        if (Disks.Length > MaxVirtioDevices) throw new VmConfigException($"{Disks.Length} disks: at most {MaxVirtioDevices} fit");
        for (int i = 0; i < Disks.Length; i++)
        {
            var disk = Disks[i] ?? throw new VmConfigException($"the configuration's disk {i} is null");
            CheckPath(disk.Path, $"disk {i}", required: true);
            if (disk.Id is null || !DiskConfig.IsValidId(disk.Id))
                throw new VmConfigException($"the configuration's disk {i} has no usable id (1 to {DiskConfig.MaxIdLength} printable ASCII characters)");
            if (Disks.Take(i).Any(d => d.Id == disk.Id)) throw new VmConfigException($"two disks have the id {disk.Id}");
            if (Disks.Take(i).Any(d => d.Path == disk.Path)) throw new VmConfigException($"disk {disk.Path} is given twice");
        }
        if (Nets is null) throw new VmConfigException("the configuration's network card list is null");
        if (VirtioDeviceCount > MaxVirtioDevices)
            throw new VmConfigException($"{Disks.Length} disks and {Nets.Length} network cards: at most {MaxVirtioDevices} devices fit");
        for (int i = 0; i < Nets.Length; i++)
        {
            var net = Nets[i] ?? throw new VmConfigException($"the configuration's network card {i} is null");
            if (!NetConfig.IsValidTap(net.Tap)) throw new VmConfigException($"the configuration's network card {i}: {NetConfig.TapRule}");
            if (!Ferry.Api.MacAddress.TryParse(net.Mac, out var mac) || !mac.IsUsableByCard)
                throw new VmConfigException($"the configuration's network card {i} has no usable MAC address");
            if (Nets.Take(i).Any(n => n.Tap == net.Tap)) throw new VmConfigException($"tap {net.Tap} is given twice");
            if (Nets.Take(i).Any(n => n.MacAddress == mac)) throw new VmConfigException($"two network cards have the MAC {mac}");
        }
        if (MemoryBytes > hostMemoryBytes)
            throw new VmConfigException($"--memory {MemoryBytes >> 20} MiB is more than this host has ({hostMemoryBytes >> 20} MiB)");
    }

    private static void CheckPath(string? path, string what, bool required)
    {
        if (path is null)
        {
            if (required) throw new VmConfigException($"the configuration names no {what}");
            return;
        }
        if (path.Length == 0 || path.Length > MaxPathLength || path.Any(char.IsControl))
            throw new VmConfigException($"the configuration's {what} path is not a usable path ({path.Length} characters{(path.Any(char.IsControl) ? ", with control characters" : "")})");
    }

    /// <summary>MemTotal of /proc/meminfo.</summary>
    public static ulong HostMemoryBytes()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                return ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return ulong.MaxValue;
    }
}
