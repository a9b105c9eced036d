using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_userspace_memory_region: a slot of guest-physical memory backed by host memory.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmUserspaceMemoryRegion
{
    /// <summary>KVM_MEM_LOG_DIRTY_PAGES.</summary>
    public const uint LogDirtyPages = 1;

    public uint Slot, Flags;
    public ulong GuestPhysAddr, MemorySize, UserspaceAddr;
}
