using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_cpuid_entry2: one CPUID leaf (function, index) and its four result registers.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuidEntry2
{
    /// <summary>KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the leaf has sub-leaves selected by ECX.</summary>
    public const uint FlagSignificantIndex = 1;

    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx;
    public uint Padding0, Padding1, Padding2;
}
