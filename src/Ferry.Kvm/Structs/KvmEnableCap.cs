using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_enable_cap, for KVM_ENABLE_CAP on a VM.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmEnableCap
{
    public uint Cap, Flags;
    public ulong Arg0, Arg1, Arg2, Arg3;
    public EnableCapPadding Pad;
}

/// <summary>The 64 reserved bytes of struct kvm_enable_cap.</summary>
[InlineArray(64)]
public struct EnableCapPadding { private byte _element0; }
