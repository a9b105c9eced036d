namespace Ferry.Compare;

/// <summary>
/// Under what a comparison was measured, printed on top of every report so two reports can be
/// compared and a result reproduced from its report alone.
/// </summary>
public sealed record Conditions
{
    /// <summary>The host's CPU model, as /proc/cpuinfo names it.</summary>
    public required string HostCpu { get; init; }
    public required int Cores { get; init; }
    /// <summary>The host kernel's release and the KVM module in use (e.g. kvm_intel, kvm_pvm).</summary>
    public required string HostKernel { get; init; }
    public required string Kvm { get; init; }
    /// <summary>Between which hosts the migrations ran, e.g. "loopback (127.0.0.1), one host".</summary>
    public required string Link { get; init; }
    /// <summary>What limited the link, e.g. "none" or "--bandwidth 1Gbit".</summary>
    public required string Shaping { get; init; }
    /// <summary>The guest, e.g. "4G, 2 vCPUs, ferry-guest.elf + initrd.cpio".</summary>
    public required string Guest { get; init; }
    public required string Workload { get; init; }
    public required string FerryVersion { get; init; }
    /// <summary>The QEMU version of the peer rows, when there are any.</summary>
    public string? QemuVersion { get; init; }
    public required DateTimeOffset Started { get; init; }
    /// <summary>The command that ran it, as a person would type it again.</summary>
    public required string CommandLine { get; init; }
}
