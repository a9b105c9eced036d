using System.Reflection;
using Ferry.Kvm.Interop;

namespace Ferry.Kvm.Tests.Abi;

public sealed class IoctlNumberTests
{
    private static Dictionary<string, nuint> Ours() => typeof(KvmIoctls)
        .GetFields(BindingFlags.Static | BindingFlags.NonPublic)
        .ToDictionary(f => f.Name, f => (nuint)f.GetValue(null)!);

    [Fact]
    public void Every_ioctl_number_matches_linux_kvm_h()
    {
        var ours = Ours();
        Assert.NotEmpty(ours);
        foreach (var (name, value) in ours)
            Assert.True(KernelAbi.Ioctl(name) == value, $"{name}: ours 0x{value:x}, kernel 0x{KernelAbi.Ioctl(name):x}");
    }

    [Fact]
    public void Every_ioctl_the_probe_prints_is_mirrored() =>
        Assert.Empty(KernelAbi.IoctlNames.Except(Ours().Keys));
}
