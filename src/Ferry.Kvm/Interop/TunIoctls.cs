namespace Ferry.Kvm.Interop;

/// <summary>The tun/tap ioctl numbers of linux/if_tun.h (type 'T'), named as there. TUNSETIFF passes a struct ifreq although its number says int. Checked against the header by tests.</summary>
internal static class TunIoctls
{
    internal static readonly nuint TUNSETIFF = IoctlNumber.Iow(202, sizeof(int), IoctlNumber.TunType);
    internal static readonly nuint TUNGETIFF = IoctlNumber.Ior(210, sizeof(uint), IoctlNumber.TunType);
    internal static readonly nuint TUNSETOFFLOAD = IoctlNumber.Iow(208, sizeof(uint), IoctlNumber.TunType);
    internal static readonly nuint TUNSETVNETHDRSZ = IoctlNumber.Iow(216, sizeof(int), IoctlNumber.TunType);
}
