using System.Diagnostics;

namespace Ferry.Compare.Running;

/// <summary>Reads the conditions a comparison runs under from this host: CPU, cores, kernel, KVM module, and the versions of Ferry and QEMU.</summary>
public static class HostConditions
{
    /// <param name="link">Between agents: the hosts as their agents describe them; null: this host alone.</param>
    public static Conditions Probe(ComparisonPlan plan, string ferry, string commandLine, string? link = null) => new()
    {
        HostCpu = CpuModel(),
        Cores = Environment.ProcessorCount,
        HostKernel = ReadTrimmed("/proc/sys/kernel/osrelease") ?? "unknown",
        Kvm = KvmModule(),
        Link = link ?? "loopback (127.0.0.1): source and destination on this host, sharing its cores",
        Shaping = plan.Bandwidth is { } b ? $"--bandwidth {b} on every migration (Ferry's cap; QEMU's max-bandwidth)" : "none",
        Guest = $"{plan.Memory}, {plan.Cpus} vCPU{(plan.Cpus == 1 ? "" : "s")}, {Path.GetFileName(plan.Kernel)} + {Path.GetFileName(plan.Initrd)}",
        Workload = plan.Workload,
        FerryVersion = FirstLine(ferry, "--version") ?? "unknown",
        QemuVersion = plan.PeerQemu ? FirstLine("qemu-system-x86_64", "--version") ?? "not found" : null,
        Started = DateTimeOffset.Now,
        CommandLine = commandLine,
    };

    private static string CpuModel() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";

    /// <summary>Which KVM serves /dev/kvm: hardware (kvm_intel, kvm_amd) or kvm_pvm, whose guests run kernel code emulated.</summary>
    private static string KvmModule()
    {
        // /sys/module lists built-in modules too; /proc/modules only loadable ones.
        var present = ((string[])["kvm_intel", "kvm_amd", "kvm_pvm"]).Where(m => Directory.Exists(Path.Combine("/sys/module", m))).ToList();
        if (present.Count > 0) return string.Join(", ", present);
        return File.Exists("/dev/kvm") ? "kvm (no vendor module found)" : "none (/dev/kvm is missing)";
    }

    private static string? ReadTrimmed(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    private static string? FirstLine(string file, string argument)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, [argument]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (p is null) return null;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }
}
