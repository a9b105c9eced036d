using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_irqfd, for KVM_IRQFD: a write to the eventfd Fd raises GSI Gsi inside KVM (a pulse: edge-triggered).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqfd
{
    /// <summary>KVM_IRQFD_FLAG_DEASSIGN.</summary>
    public const uint FlagDeassign = 1 << 0;
    public uint Fd, Gsi, Flags, Resamplefd;
    public IrqfdPadding Pad;
}

/// <summary>The 16 reserved bytes of struct kvm_irqfd.</summary>
[InlineArray(16)]
public struct IrqfdPadding { private byte _element0; }
