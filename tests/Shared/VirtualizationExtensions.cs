namespace Ferry.Tests.Shared;

/// <summary>
/// A test that needs hardware virtualization (VT-x or AMD-V), such as a full Linux boot: on
/// kvm_pvm hosts guest kernel code is emulated and would take many minutes. Skips with the reason.
/// </summary>
public sealed class HardwareVirtualizationFactAttribute : FactAttribute
{
    public HardwareVirtualizationFactAttribute()
    {
        if (!File.Exists("/dev/kvm")) Skip = "no /dev/kvm on this host";
        else if (!HasVmxOrSvm()) Skip = "this CPU has no VT-x/AMD-V (KVM here is kvm_pvm, which emulates guest kernel code): a full Linux boot would take many minutes";
    }

    public static bool HasVmxOrSvm() =>
        File.ReadLines("/proc/cpuinfo").Any(l => l.StartsWith("flags", StringComparison.Ordinal) && (l.Contains(" vmx") || l.Contains(" svm")));
}
