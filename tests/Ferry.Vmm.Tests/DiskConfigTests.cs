using Ferry.Vmm.Devices.Virtio;

namespace Ferry.Vmm.Tests;

public sealed class DiskConfigTests
{
    [Theory]
    [InlineData("a.img", "a.img", false, "disk0")]
    [InlineData("a.img,readonly", "a.img", true, "disk0")]
    [InlineData("/x/a.img,id=data,readonly", "/x/a.img", true, "data")]
    [InlineData("a.img,id=12345678901234567890", "a.img", false, "12345678901234567890")]
    public void The_option_parses(string spec, string path, bool readOnly, string id) =>
        Assert.Equal(new DiskConfig(path, readOnly, id), DiskConfig.Parse(spec, 0));

    [Theory]
    [InlineData(",readonly", "--disk ,readonly: no image path (write --disk PATH[,readonly][,id=NAME])")]
    [InlineData("a.img,ro", "--disk a.img,ro: unknown option \"ro\" (write --disk PATH[,readonly][,id=NAME])")]
    [InlineData("a.img,id=", "--disk a.img,id=: id must be 1 to 20 printable ASCII characters")]
    [InlineData("a.img,id=123456789012345678901", "--disk a.img,id=123456789012345678901: id must be 1 to 20 printable ASCII characters")]
    public void A_bad_option_is_one_line(string spec, string message) =>
        Assert.Equal(message, Assert.Throws<VmConfigException>(() => DiskConfig.Parse(spec, 0)).Message);

    private static VmConfig With(params DiskConfig[] disks) => new("vm", "/k", null, 256 << 20, 1, "console=ttyS0") { Disks = disks };

    [Fact]
    public void Disks_travel_in_the_configuration_json()
    {
        var config = With(new DiskConfig("/a.img", false, "a"), new DiskConfig("/b.img", true, "b"));
        var back = VmConfigJson.Decode(VmConfigJson.Encode(config));
        Assert.Equal(config.Disks, back.Disks);
        Assert.Empty(VmConfigJson.Decode("""{"name":"vm","kernel_path":"/k","memory_bytes":268435456,"cpu_count":1,"command_line":""}"""u8).Disks);
    }

    [Fact]
    public void A_configuration_with_duplicate_or_too_many_disks_is_refused()
    {
        Assert.Contains("given twice", Assert.Throws<VmConfigException>(() => With(new("/a", false, "a"), new("/a", false, "b")).ValidateShape(ulong.MaxValue)).Message);
        Assert.Contains("two disks have the id a", Assert.Throws<VmConfigException>(() => With(new("/a", false, "a"), new("/b", false, "a")).ValidateShape(ulong.MaxValue)).Message);
        var nine = Enumerable.Range(0, 9).Select(i => new DiskConfig($"/d{i}", false, $"d{i}")).ToArray();
        Assert.Contains("at most 8", Assert.Throws<VmConfigException>(() => With(nine).ValidateShape(ulong.MaxValue)).Message);
    }

    [Fact]
    public void Each_device_gets_a_kernel_parameter_before_any_init_arguments()
    {
        Assert.Equal("virtio_mmio.device=4K@0xd0000000:16", VirtioMmioLayout.KernelParameter(0));
        Assert.Equal("virtio_mmio.device=4K@0xd0002000:18", VirtioMmioLayout.KernelParameter(2));
        Assert.Equal("console=ttyS0 virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17",
            With(new("/a", false, "a"), new("/b", false, "b")).BootCommandLine());
        Assert.Equal("quiet virtio_mmio.device=4K@0xd0000000:16 -- init args", VirtioMmioLayout.WithDevices("quiet -- init args", 1));
        Assert.Equal("virtio_mmio.device=4K@0xd0000000:16", VirtioMmioLayout.WithDevices("", 1));
        Assert.Equal("console=ttyS0", With().BootCommandLine());
    }
}
