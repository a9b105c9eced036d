using System.Runtime.CompilerServices;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm.Interop;

/// <summary>The userfaultfd ioctl numbers of linux/userfaultfd.h (type 0xAA), named as there. Checked against the header by tests.</summary>
internal static class UffdIoctls
{
    internal static readonly nuint UFFDIO_API = IoctlNumber.Iowr(0x3F, Unsafe.SizeOf<UffdioApi>(), IoctlNumber.UffdType);
    internal static readonly nuint UFFDIO_REGISTER = IoctlNumber.Iowr(0x00, Unsafe.SizeOf<UffdioRegister>(), IoctlNumber.UffdType);
    internal static readonly nuint UFFDIO_UNREGISTER = IoctlNumber.Ior(0x01, Unsafe.SizeOf<UffdioRange>(), IoctlNumber.UffdType);
    internal static readonly nuint UFFDIO_WAKE = IoctlNumber.Ior(0x02, Unsafe.SizeOf<UffdioRange>(), IoctlNumber.UffdType);
    internal static readonly nuint UFFDIO_COPY = IoctlNumber.Iowr(0x03, Unsafe.SizeOf<UffdioCopy>(), IoctlNumber.UffdType);
    internal static readonly nuint UFFDIO_ZEROPAGE = IoctlNumber.Iowr(0x04, Unsafe.SizeOf<UffdioZeropage>(), IoctlNumber.UffdType);
    /// <summary>On /dev/userfaultfd (Linux 6.1+): a new userfaultfd, allowed to whoever may open the device.</summary>
    internal static readonly nuint USERFAULTFD_IOC_NEW = IoctlNumber.Io(0x00, IoctlNumber.UffdType);
}
