using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct uffdio_register: UFFDIO_REGISTER's range and mode; the kernel answers with the ioctls the range allows.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct UffdioRegister
{
    public const ulong ModeMissing = 1; // UFFDIO_REGISTER_MODE_MISSING
    public UffdioRange Range;
    public ulong Mode, Ioctls;
}
