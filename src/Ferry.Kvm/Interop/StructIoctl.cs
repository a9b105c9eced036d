using System.Runtime.InteropServices;

namespace Ferry.Kvm.Interop;

/// <summary>An ioctl that reads or writes one fixed-size kernel struct, the commonest KVM call shape.</summary>
internal static unsafe class StructIoctl
{
    internal static T Get<T>(SafeHandle fd, nuint request, string name) where T : unmanaged
    {
        T value = default;
        Call(fd, request, ref value, name);
        return value;
    }

    internal static void Call<T>(SafeHandle fd, nuint request, ref T value, string name) where T : unmanaged
    {
        fixed (T* p = &value)
        {
            // Safe because p points at a T whose size is the one encoded in the request number.
            Kvm.Check(LibC.Ioctl(fd, request, p), name);
        }
    }
}
