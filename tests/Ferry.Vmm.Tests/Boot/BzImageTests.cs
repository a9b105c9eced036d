using Ferry.Vmm.Boot;

namespace Ferry.Vmm.Tests.Boot;

public sealed class BzImageTests
{
    [Fact]
    public void Parses_the_setup_header()
    {
        var bz = BzImage.Parse(SyntheticBzImage.Create(setupSects: 27), "k");
        Assert.Equal(0x020f, bz.Version);
        Assert.Equal(28 * 512, bz.KernelOffset);
        Assert.Equal(0x1000000UL, bz.PrefAddress);
        Assert.Equal(0x1000000UL, bz.LoadAddress);
        Assert.Equal(0x7fffffffu, bz.InitrdAddrMax);
        Assert.Equal(2047u, bz.CmdlineSize);
    }

    [Fact]
    public void Zero_setup_sects_means_four() =>
        Assert.Equal(5 * 512, BzImage.Parse(SyntheticBzImage.Create(setupSects: 0), "k").KernelOffset);

    [Fact]
    public void Refuses_a_kernel_without_a_64_bit_entry() =>
        Assert.Contains("64-bit", Assert.Throws<VmConfigException>(() => BzImage.Parse(SyntheticBzImage.Create(xloadflags: 0), "k")).Message);

    [Fact]
    public void Refuses_an_old_boot_protocol() =>
        Assert.Contains("too old", Assert.Throws<VmConfigException>(() => BzImage.Parse(SyntheticBzImage.Create(version: 0x0206), "k")).Message);

    [Fact]
    public void Refuses_a_file_without_the_signature() =>
        Assert.Throws<VmConfigException>(() => BzImage.Parse(new byte[8192], "k"));

    [Fact]
    public void Refuses_a_truncated_file() =>
        Assert.Throws<VmConfigException>(() => BzImage.Parse(SyntheticBzImage.Create().AsSpan(0, 0x240), "k"));
}
