using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_ioeventfd, for KVM_IOEVENTFD: a guest write to Addr signals the eventfd Fd inside KVM, without an exit to the VMM.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIoeventfd
{
    /// <summary>KVM_IOEVENTFD_FLAG_DEASSIGN: remove a registration made with the same fields.</summary>
    public const uint FlagDeassign = 1 << 2;
    public ulong Datamatch, Addr;
    public uint Len;
    public int Fd;
    public uint Flags;
    public IoeventfdPadding Pad;
}

/// <summary>The 36 reserved bytes of struct kvm_ioeventfd.</summary>
[InlineArray(36)]
public struct IoeventfdPadding { private byte _element0; }
