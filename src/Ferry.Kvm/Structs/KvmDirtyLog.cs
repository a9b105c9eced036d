using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_dirty_log: where KVM_GET_DIRTY_LOG writes a slot's bitmap.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDirtyLog
{
    public uint Slot, Padding;
    public ulong DirtyBitmap;
}
