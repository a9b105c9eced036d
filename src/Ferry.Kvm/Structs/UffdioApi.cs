using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct uffdio_api: the API handshake of a new userfaultfd (UFFDIO_API).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct UffdioApi
{
    public const ulong Api = 0xAA;             // UFFD_API
    public const ulong FeatureThreadId = 1 << 8; // UFFD_FEATURE_THREAD_ID
    public ulong ApiVersion, Features, Ioctls;
}
