using Ferry.Kvm.Structs;

namespace Ferry.Vmm.Cpu;

/// <summary>
/// Turns KVM's supported CPUID into what one vCPU reports. Without KVM_SET_CPUID2 at all, this
/// machine's KVM (kvm_pvm) delivers only the first local-APIC timer interrupt, so every vCPU
/// gets this table before it first runs.
/// </summary>
public static class CpuidFilter
{
    private const uint Cx16 = 1u << 13;              // leaf 1 ECX
    private const uint Hypervisor = 1u << 31;        // leaf 1 ECX
    private const uint Htt = 1u << 28;               // leaf 1 EDX
    private const uint ArchCapabilities = 1u << 29;  // leaf 7.0 EDX

    public static KvmCpuidEntry2[] ForVcpu(ReadOnlySpan<KvmCpuidEntry2> supported, int apicId, int cpuCount)
    {
        var entries = supported.ToArray();
        for (int i = 0; i < entries.Length; i++)
        {
            ref var e = ref entries[i];
            switch (e.Function)
            {
                case 1:
                    // The initial APIC ID and the logical-processor count per package.
                    e.Ebx = (e.Ebx & 0x0000ffff) | ((uint)apicId << 24) | ((uint)Math.Min(cpuCount, 255) << 16);
                    if (cpuCount > 1) e.Edx |= Htt; else e.Edx &= ~Htt;
                    // KVM's instruction emulator, which runs all guest kernel code on kvm_pvm, has no
                    // CMPXCHG16B; Linux's SLUB uses it when CX16 is advertised.
                    e.Ecx &= ~Cx16;
                    e.Ecx |= Hypervisor;
                    break;
                case 7 when e.Index == 0:
                    // kvm_pvm fails guest writes to IA32_ARCH_CAPABILITIES, which Linux makes when this bit is set.
                    e.Edx &= ~ArchCapabilities;
                    break;
                case 0xb or 0x1f:
                    e.Edx = (uint)apicId; // x2APIC ID of this vCPU, in every sub-leaf
                    break;
            }
        }
        return entries;
    }
}
