using Ferry.Vmm.Devices.Virtio.Blk;

namespace Ferry.Vmm.Tests.Devices.Virtio;

public sealed class DiskImageTests : IDisposable
{
    private readonly TempImage _image = new(64 * 1024);

    public void Dispose() => _image.Dispose();

    [Fact]
    public void A_second_writer_is_refused_with_one_clear_line()
    {
        using var first = DiskImage.Open(_image.Path, readOnly: false);
        first.Lock();
        using var second = DiskImage.Open(_image.Path, readOnly: false);
        var e = Assert.Throws<VmConfigException>(second.Lock);
        Assert.Equal($"disk {_image.Path} is in use by another VM", e.Message);
        using var reader = DiskImage.Open(_image.Path, readOnly: true);
        Assert.Throws<VmConfigException>(reader.Lock);
    }

    [Fact]
    public void Readonly_users_share_an_image_and_keep_a_writer_out()
    {
        using var a = DiskImage.Open(_image.Path, readOnly: true);
        using var b = DiskImage.Open(_image.Path, readOnly: true);
        a.Lock();
        b.Lock();
        using var writer = DiskImage.Open(_image.Path, readOnly: false);
        Assert.Throws<VmConfigException>(writer.Lock);
    }

    [Fact]
    public void Closing_lets_another_VM_take_the_image_and_Lock_reopens_it()
    {
        using var source = DiskImage.Open(_image.Path, readOnly: false);
        source.Lock();
        source.Close();
        using var destination = DiskImage.Open(_image.Path, readOnly: false);
        destination.Lock();
        Assert.Throws<VmConfigException>(source.Lock);
        destination.Close();
        source.Lock();
        Assert.True(source.IsLocked);
    }

    [Fact]
    public void A_missing_image_is_one_line()
    {
        var e = Assert.Throws<VmConfigException>(() => DiskImage.Open(_image.Path + ".none", readOnly: false));
        Assert.Equal($"disk {_image.Path}.none: no such file", e.Message);
    }

    [Fact]
    public void An_image_we_may_not_write_is_refused_unless_readonly()
    {
        // Root writes past file modes, so as root (this suite's user) the image sits on a
        // read-only tmpfs instead: the kernel refuses a writable open there to everyone.
        string dir = Directory.CreateTempSubdirectory("ferry-ro-").FullName, image = Path.Combine(dir, "disk.img");
        bool mounted = false;
        try
        {
            if (Environment.UserName == "root")
            {
                Mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", dir);
                mounted = true;
                File.WriteAllBytes(image, new byte[65536]);
                Mount("-o", "remount,ro", dir);
            }
            else
            {
                File.WriteAllBytes(image, new byte[65536]);
                if (OperatingSystem.IsLinux()) File.SetUnixFileMode(image, UnixFileMode.UserRead);
            }
            var e = Assert.Throws<VmConfigException>(() => DiskImage.Open(image, readOnly: false));
            Assert.StartsWith($"disk {image} cannot be opened for writing: ", e.Message);
            Assert.EndsWith("(add ,readonly to use it read-only)", e.Message);
            using var ro = DiskImage.Open(image, readOnly: true);
            Assert.True(ro.ReadOnly);
        }
        finally
        {
            if (mounted) Unmount(dir);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Mount(params string[] args) => Run("mount", args);
    private static void Unmount(string dir) => Run("umount", dir);

    private static void Run(string program, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardError = true };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var p = System.Diagnostics.Process.Start(start)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: {error}");
    }

    [Fact]
    public void The_capacity_is_the_size_in_whole_sectors()
    {
        File.AppendAllText(_image.Path, "xyz");
        using var disk = DiskImage.Open(_image.Path, readOnly: true);
        Assert.Equal(128UL, disk.CapacitySectors);
    }
}
