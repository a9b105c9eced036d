using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct uffdio_copy: UFFDIO_COPY; <see cref="Copy"/> says how many bytes were installed, or a negative errno.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct UffdioCopy
{
    public ulong Dst, Src, Len, Mode;
    public long Copy;
}
