namespace Ferry.Kvm.Interop;

/// <summary>The _IO/_IOR/_IOW/_IOWR encoding of asm-generic/ioctl.h. Tests compare every number with the kernel headers.</summary>
internal static class IoctlNumber
{
    private const int NrShift = 0, TypeShift = 8, SizeShift = 16, DirShift = 30;
    private const uint None = 0, Write = 1, Read = 2;
    // The ioctl "type" byte: KVMIO of linux/kvm.h, UFFDIO of linux/userfaultfd.h, 'T' of linux/if_tun.h. KVM is the default.
    internal const uint KvmType = 0xAE, UffdType = 0xAA, TunType = 0x54; // TUNSETIFF and friends: 'T' of linux/if_tun.h

    internal static nuint Io(uint nr, uint type = KvmType) => Encode(None, type, nr, 0);
    internal static nuint Ior(uint nr, int size, uint type = KvmType) => Encode(Read, type, nr, size);
    internal static nuint Iow(uint nr, int size, uint type = KvmType) => Encode(Write, type, nr, size);
    internal static nuint Iowr(uint nr, int size, uint type = KvmType) => Encode(Read | Write, type, nr, size);

    private static nuint Encode(uint dir, uint type, uint nr, int size) =>
        (nuint)((dir << DirShift) | ((uint)size << SizeShift) | (type << TypeShift) | (nr << NrShift));
}
