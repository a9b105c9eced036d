using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;
using Ferry.Tests.Shared;

namespace Ferry.Kvm.Tests.Abi;

/// <summary>Ferry.Kvm's userfaultfd structs, constants and ioctl numbers against linux/userfaultfd.h on this machine.</summary>
public sealed class UserfaultfdAbiTests
{
    private static readonly CProbe Probe = new("Abi/uffd_probe.c");

    public static TheoryData<string, Type, string[], string[]> Structs => new()
    {
        { "uffdio_api", typeof(UffdioApi), ["api", "features", "ioctls"], ["ApiVersion", "Features", "Ioctls"] },
        { "uffdio_range", typeof(UffdioRange), ["start", "len"], ["Start", "Len"] },
        { "uffdio_register", typeof(UffdioRegister), ["range", "mode", "ioctls"], ["Range", "Mode", "Ioctls"] },
        { "uffdio_copy", typeof(UffdioCopy), ["dst", "src", "len", "mode", "copy"], ["Dst", "Src", "Len", "Mode", "Copy"] },
        { "uffdio_zeropage", typeof(UffdioZeropage), ["range", "mode", "zeropage"], ["Range", "Mode", "Zeropage"] },
        { "uffd_msg", typeof(UffdMsg), ["event", "arg.pagefault.flags", "arg.pagefault.address", "arg.pagefault.feat.ptid"],
            ["Event", "PagefaultFlags", "PagefaultAddress", "PagefaultPtid"] },
    };

    [Theory]
    [MemberData(nameof(Structs))]
    public void Struct_matches_linux_userfaultfd_h(string cStruct, Type type, string[] cFields, string[] fields)
    {
        Assert.Equal((int)Probe.Get("size", cStruct), Marshal.SizeOf(type));
        for (int i = 0; i < cFields.Length; i++)
            Assert.True((int)Probe.Get("offset", $"{cStruct}.{cFields[i]}") == (int)Marshal.OffsetOf(type, fields[i]), $"{cStruct}.{cFields[i]}");
    }

    [Fact]
    public void Constants_match_linux_userfaultfd_h()
    {
        Assert.Equal(UffdioApi.Api, Probe.Get("const", "UFFD_API"));
        Assert.Equal(UffdioApi.FeatureThreadId, Probe.Get("const", "UFFD_FEATURE_THREAD_ID"));
        Assert.Equal((ulong)UffdMsg.EventPagefault, Probe.Get("const", "UFFD_EVENT_PAGEFAULT"));
        Assert.Equal(UffdioRegister.ModeMissing, Probe.Get("const", "UFFDIO_REGISTER_MODE_MISSING"));
        Assert.Equal(3UL, Probe.Get("const", "_UFFDIO_COPY"));      // the bits RegisterMissing checks
        Assert.Equal(4UL, Probe.Get("const", "_UFFDIO_ZEROPAGE"));
    }

    [Fact]
    public void Every_ioctl_number_matches_linux_userfaultfd_h()
    {
        var ours = typeof(UffdIoctls).GetFields(BindingFlags.Static | BindingFlags.NonPublic).ToDictionary(f => f.Name, f => (nuint)f.GetValue(null)!);
        Assert.Equal(Probe.Names("ioctl").Order(), ours.Keys.Order());
        foreach (var (name, value) in ours)
            Assert.True(Probe.Get("ioctl", name) == value, $"{name}: ours 0x{value:x}, kernel 0x{Probe.Get("ioctl", name):x}");
    }
}
