namespace Ferry.Vmm;

/// <summary>What a VM is made of. Validated by <see cref="Validate"/> before anything is created.</summary>
public sealed record VmConfig(string Name, string KernelPath, string? InitrdPath, ulong MemoryBytes, int CpuCount, string CommandLine)
{
    public const int MaxCpus = 32;

    /// <summary>Throws VmConfigException with a one-line reason for the first thing wrong.</summary>
    public void Validate(ulong hostMemoryBytes)
    {
        ValidateShape(hostMemoryBytes);
        if (!File.Exists(KernelPath)) throw new VmConfigException($"kernel {KernelPath}: no such file");
        if (InitrdPath is not null && !File.Exists(InitrdPath)) throw new VmConfigException($"initrd {InitrdPath}: no such file");
        if (CommandLine.Contains('\0')) throw new VmConfigException("the command line contains a NUL byte");
    }

    /// <summary>The checks that also apply to a VM restored from an image: vCPUs and memory, not the boot files.</summary>
    public void ValidateShape(ulong hostMemoryBytes)
    {
        if (CpuCount < 1 || CpuCount > MaxCpus)
            throw new VmConfigException($"--cpus {CpuCount} is not supported: choose 1 to {MaxCpus}");
        if (MemoryBytes > hostMemoryBytes)
            throw new VmConfigException($"--memory {MemoryBytes >> 20} MiB is more than this host has ({hostMemoryBytes >> 20} MiB)");
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
