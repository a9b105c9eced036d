using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_msr_entry: one model-specific register.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrEntry
{
    public uint Index, Reserved;
    public ulong Data;

    public KvmMsrEntry(uint index, ulong data) { Index = index; Reserved = 0; Data = data; }
}
