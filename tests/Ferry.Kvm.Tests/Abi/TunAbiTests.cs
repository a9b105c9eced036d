using System.Reflection;
using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;
using Ferry.Tests.Shared;

namespace Ferry.Kvm.Tests.Abi;

/// <summary>Ferry.Kvm's tap interop (struct ifreq, flags, offloads, ioctl numbers) against linux/if_tun.h and linux/if.h on this machine.</summary>
public sealed class TunAbiTests
{
    private static readonly CProbe Probe = new("Abi/tun_probe.c");

    [Fact]
    public void Ifreq_matches_linux_if_h()
    {
        Assert.Equal((int)Probe.Get("size", "ifreq"), Marshal.SizeOf<IfReq>());
        Assert.Equal((int)Probe.Get("offset", "ifreq.ifr_name"), (int)Marshal.OffsetOf<IfReq>(nameof(IfReq.Name)));
        Assert.Equal((int)Probe.Get("offset", "ifreq.ifr_flags"), (int)Marshal.OffsetOf<IfReq>(nameof(IfReq.Flags)));
        Assert.Equal((ulong)IfReq.NameSize, Probe.Get("const", "IFNAMSIZ"));
    }

    [Fact]
    public void The_vnet_header_is_virtio_net_hdr_v1()
    {
        Assert.Equal((ulong)TapDevice.VnetHeaderBytes, Probe.Get("size", "virtio_net_hdr_v1"));
        Assert.Equal((ulong)TapDevice.VnetHeaderBytes, Probe.Get("size", "virtio_net_hdr_mrg_rxbuf"));
    }

    public static TheoryData<string, ulong> Constants => new()
    {
        { "IFF_TAP", (ulong)TapDevice.IffTap },
        { "IFF_NO_PI", (ulong)TapDevice.IffNoPi },
        { "IFF_VNET_HDR", (ulong)TapDevice.IffVnetHdr },
        { "TUN_F_CSUM", TapDevice.OffloadCsum },
        { "TUN_F_TSO4", TapDevice.OffloadTso4 },
        { "TUN_F_TSO6", TapDevice.OffloadTso6 },
        { "TUN_F_TSO_ECN", TapDevice.OffloadTsoEcn },
    };

    [Theory]
    [MemberData(nameof(Constants))]
    public void Constant_matches_linux_if_tun_h(string name, ulong ours) => Assert.Equal(Probe.Get("const", name), ours);

    [Fact]
    public void Every_ioctl_number_matches_linux_if_tun_h()
    {
        var ours = typeof(TunIoctls).GetFields(BindingFlags.Static | BindingFlags.NonPublic).ToDictionary(f => f.Name, f => (nuint)f.GetValue(null)!);
        Assert.Equal(Probe.Names("ioctl").Order(), ours.Keys.Order());
        foreach (var (name, value) in ours)
            Assert.True(Probe.Get("ioctl", name) == value, $"{name}: ours 0x{value:x}, kernel 0x{Probe.Get("ioctl", name):x}");
    }
}
