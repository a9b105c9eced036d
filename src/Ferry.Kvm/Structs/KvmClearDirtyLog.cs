using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_clear_dirty_log: re-protects a range of pages (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmClearDirtyLog
{
    public uint Slot, NumPages;
    public ulong FirstPage;
    public ulong DirtyBitmap;
}
