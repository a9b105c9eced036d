using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct uffdio_zeropage: UFFDIO_ZEROPAGE; <see cref="Zeropage"/> says how many bytes were installed, or a negative errno.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct UffdioZeropage
{
    public UffdioRange Range;
    public ulong Mode;
    public long Zeropage;
}
