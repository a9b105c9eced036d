using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct uffdio_range: a range of this process's memory.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct UffdioRange
{
    public ulong Start, Len;
}
