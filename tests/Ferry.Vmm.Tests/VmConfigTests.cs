namespace Ferry.Vmm.Tests;

/// <summary>A configuration from a stream or snapshot is held to the same limits as one typed on the command line.</summary>
public sealed class VmConfigTests
{
    private static VmConfig Good => new("vm-1", "/boot/kernel", null, 64UL << 20, 1, "console=ttyS0");

    [Theory]
    [InlineData("vm-1")]
    [InlineData("A.b_c-9")]
    public void Plain_names_pass(string name) => Assert.True(VmName.IsValid(name));

    [Theory]
    [InlineData("")]
    [InlineData(".x")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a\nb")]
    [InlineData("caf\u00e9")]
    [InlineData("sp ace")]
    public void Other_names_fail(string name) => Assert.False(VmName.IsValid(name));

    [Fact]
    public void A_name_of_65_characters_fails() => Assert.False(VmName.IsValid(new string('x', 65)));

    [Fact]
    public void A_refused_name_is_shown_on_one_line()
    {
        var e = Assert.Throws<VmConfigException>(() => VmName.Check("x\ny" + new string('z', 100), "the stream"));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("\\u000a", e.Message);
        Assert.Contains("(103 characters)", e.Message);
    }

    [Fact]
    public void A_good_shape_passes() => Good.ValidateShape(1UL << 40);

    [Fact]
    public void A_command_line_longer_than_the_boot_area_is_refused()
    {
        var e = Assert.Throws<VmConfigException>(() => (Good with { CommandLine = new string('c', 100_000) }).ValidateShape(1UL << 40));
        Assert.Contains("the command line is 100000 bytes", e.Message);
    }

    [Fact]
    public void Missing_fields_are_refused()
    {
        Assert.Contains("names no kernel", Assert.Throws<VmConfigException>(() => (Good with { KernelPath = null! }).ValidateShape(1UL << 40)).Message);
        Assert.Contains("no command line", Assert.Throws<VmConfigException>(() => (Good with { CommandLine = null! }).ValidateShape(1UL << 40)).Message);
        Assert.Contains("VM name (none)", Assert.Throws<VmConfigException>(() => (Good with { Name = null! }).ValidateShape(1UL << 40)).Message);
    }

    [Fact]
    public void A_path_with_control_characters_is_refused() =>
        Assert.Contains("control characters", Assert.Throws<VmConfigException>(() => (Good with { InitrdPath = "/x\n/y" }).ValidateShape(1UL << 40)).Message);
}
