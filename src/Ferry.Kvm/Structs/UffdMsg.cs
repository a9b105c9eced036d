using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct uffd_msg (32 bytes, packed), as read from a userfaultfd; only the page-fault event's fields are mirrored.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
public struct UffdMsg
{
    public const byte EventPagefault = 0x12; // UFFD_EVENT_PAGEFAULT
    [FieldOffset(0)] public byte Event;
    /// <summary>arg.pagefault.flags</summary>
    [FieldOffset(8)] public ulong PagefaultFlags;
    /// <summary>arg.pagefault.address</summary>
    [FieldOffset(16)] public ulong PagefaultAddress;
    /// <summary>arg.pagefault.feat.ptid (with UFFD_FEATURE_THREAD_ID)</summary>
    [FieldOffset(24)] public uint PagefaultPtid;
}
