using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm;

/// <summary>/dev/kvm: the system-wide KVM handle. Creates VMs and answers capability questions.</summary>
public sealed unsafe class Kvm : IDisposable
{
    public const string DevicePath = "/dev/kvm";
    private const int ExpectedApiVersion = 12;
    private readonly KvmFd _fd;

    private Kvm(KvmFd fd) => _fd = fd;

    /// <summary>Opens /dev/kvm and checks the API version. Throws a KvmException with a hint when it cannot.</summary>
    public static Kvm Open()
    {
        if (!File.Exists(DevicePath))
            throw new KvmUnavailableException("KVM is not available: /dev/kvm is missing");
        int fd = LibC.Open(DevicePath, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new KvmUnavailableException(
                $"cannot open /dev/kvm: {Marshal.GetPInvokeErrorMessage(errno)} (is your user in the kvm group?)");
        }
        var kvm = new Kvm(new KvmFd(fd));
        int version = LibC.Ioctl(kvm._fd, KvmIoctls.KVM_GET_API_VERSION, 0);
        if (version != ExpectedApiVersion)
        {
            kvm.Dispose();
            throw new KvmUnavailableException($"KVM API version {version} is not supported (expected {ExpectedApiVersion})");
        }
        return kvm;
    }

    /// <summary>KVM_CHECK_EXTENSION: 0 when the capability is absent, else a capability-specific value.</summary>
    public int CheckExtension(KvmCapability capability) => LibC.Ioctl(_fd, KvmIoctls.KVM_CHECK_EXTENSION, (nuint)capability);

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: the size of each vCPU's shared kvm_run area.</summary>
    public int VcpuMmapSize => Check(LibC.Ioctl(_fd, KvmIoctls.KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");

    /// <summary>KVM_CAP_NR_VCPUS: the recommended maximum number of vCPUs.</summary>
    public int RecommendedMaxVcpus => Math.Max(CheckExtension(KvmCapability.NrVcpus), 4);

    /// <summary>KVM_GET_SUPPORTED_CPUID: every CPUID leaf this KVM can give a guest.</summary>
    public KvmCpuidEntry2[] GetSupportedCpuid()
    {
        for (int capacity = 128; ; capacity *= 2)
        {
            var buffer = new byte[8 + capacity * sizeof(KvmCpuidEntry2)];
            fixed (byte* p = buffer)
            {
                *(uint*)p = (uint)capacity;
                // Safe because the buffer holds the header and `capacity` entries, as nent says.
                if (LibC.Ioctl(_fd, KvmIoctls.KVM_GET_SUPPORTED_CPUID, p) == 0)
                    return new ReadOnlySpan<KvmCpuidEntry2>(p + 8, (int)*(uint*)p).ToArray();
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != 7 /* E2BIG */ || capacity > 4096) throw new KvmException("KVM_GET_SUPPORTED_CPUID", errno);
        }
    }

    /// <summary>KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores for a vCPU.</summary>
    public uint[] GetMsrIndexList()
    {
        for (int capacity = 256; ; capacity *= 2)
        {
            var buffer = new uint[1 + capacity];
            buffer[0] = (uint)capacity;
            fixed (uint* p = buffer)
            {
                // Safe because the buffer has room for `capacity` indices after the count.
                if (LibC.Ioctl(_fd, KvmIoctls.KVM_GET_MSR_INDEX_LIST, p) == 0)
                    return buffer.AsSpan(1, (int)p[0]).ToArray();
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != 7 || capacity > 65536) throw new KvmException("KVM_GET_MSR_INDEX_LIST", errno);
        }
    }

    /// <summary>KVM_CREATE_VM: a new, empty VM.</summary>
    public VmFd CreateVm()
    {
        int fd = LibC.Ioctl(_fd, KvmIoctls.KVM_CREATE_VM, 0);
        if (fd < 0) throw new KvmException("KVM_CREATE_VM", Marshal.GetLastPInvokeError());
        return new VmFd(new KvmFd(fd), VcpuMmapSize);
    }

    public void Dispose() => _fd.Dispose();

    internal static int Check(int result, string operation) =>
        result < 0 ? throw new KvmException(operation, Marshal.GetLastPInvokeError()) : result;
}
