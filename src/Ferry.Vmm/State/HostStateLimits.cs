using Ferry.Kvm.Structs;

namespace Ferry.Vmm.State;

/// <summary>What this host's KVM accepts, against which a saved state is checked before any of it reaches KVM.</summary>
public sealed record HostStateLimits(int XsaveSize, KvmCpuidEntry2[] SupportedCpuid, uint[] MsrIndices)
{
    public static HostStateLimits Of(Kvm.Kvm kvm) =>
        new(Math.Max(kvm.CheckExtension(Kvm.KvmCapability.Xsave2), 4096), kvm.GetSupportedCpuid(), kvm.GetMsrIndexList());
}
