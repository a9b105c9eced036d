using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_pit_config, for KVM_CREATE_PIT2.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmPitConfig
{
    public uint Flags;
    public PitConfigPadding Pad;
}

/// <summary>The 15 reserved words of struct kvm_pit_config.</summary>
[InlineArray(15)]
public struct PitConfigPadding { private uint _element0; }
