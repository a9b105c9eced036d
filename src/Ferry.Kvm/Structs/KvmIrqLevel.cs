using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_irq_level: drives a GSI of the in-kernel interrupt controller.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqLevel
{
    public uint Irq, Level;
}
