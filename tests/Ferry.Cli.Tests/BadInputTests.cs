using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>Every bad input ends with one line on stderr, exit code 2, and no VM left behind.</summary>
[Collection(KvmCollection.Name)]
public sealed class BadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-bad-input-").FullName;

    private string File(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void AssertRefused((int Code, string Stdout, string Stderr) result, string expected)
    {
        Assert.Equal((int)ExitCode.BadInput, result.Code);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("ferry: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void Missing_kernel() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", Path.Combine(_dir, "nope")), "no such file");

    [Fact]
    public void Corrupt_kernel() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", File("junk", [.. Enumerable.Range(0, 5000).Select(i => (byte)(i * 37))])),
            "neither an ELF kernel with a PVH note nor a Linux bzImage");

    [Fact]
    public void Truncated_elf_kernel()
    {
        // Cut inside the last loadable segment (symbols and debug sections after it do not count).
        var elf = System.IO.File.ReadAllBytes(TestGuest.Kernel);
        AssertRefused(FerryProcess.Run("run", "--kernel", File("short.elf", elf[..(int)(EndOfLoadableSegments(elf) - 64)])), "truncated");
    }

    /// <summary>The file offset where the ELF64's last PT_LOAD segment ends.</summary>
    private static long EndOfLoadableSegments(byte[] elf)
    {
        long phoff = BitConverter.ToInt64(elf, 0x20);
        int size = BitConverter.ToUInt16(elf, 0x36), count = BitConverter.ToUInt16(elf, 0x38);
        long end = 0;
        for (int i = 0; i < count; i++)
        {
            int at = (int)phoff + i * size;
            if (BitConverter.ToUInt32(elf, at) != 1) continue; // PT_LOAD
            end = Math.Max(end, BitConverter.ToInt64(elf, at + 8) + BitConverter.ToInt64(elf, at + 32));
        }
        return end;
    }

    [Fact]
    public void Elf_without_pvh_note() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", File("nonote.elf", BrokenKernels.WithoutPvhNote())), "no PVH entry note");

    [Fact]
    public void Initrd_too_large_for_the_ram() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--memory", "64M", "--initrd", File("big.cpio", new byte[80 << 20])),
            "does not fit");

    [Fact]
    public void Memory_larger_than_the_host() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--memory", "1T"), "more than this host has");

    [Fact]
    public void Missing_disk_image() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--disk", Path.Combine(_dir, "nope.img")), $"disk {Path.Combine(_dir, "nope.img")}: no such file");

    [Fact]
    public void Unknown_disk_option() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--disk", File("a.img", new byte[4096]) + ",ro"), "unknown option \"ro\"");

    [Fact]
    public void Disk_image_locked_by_another_VM()
    {
        string image = File("locked.img", new byte[4096]);
        using var held = Ferry.Kvm.HostFile.Open(image, writable: true);
        Assert.True(Ferry.Kvm.HostFile.TryLock(held, exclusive: true));
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--disk", image), $"disk {image} is in use by another VM");
    }

    [Fact]
    public void Unknown_net_option() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--net", "tap=ft0,model=e1000"), "unknown option \"model=e1000\" (write --net tap=NAME[,mac=MAC])");

    [Fact]
    public void Net_without_a_tap() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--net", "mac=52:54:00:12:34:56"), "no tap");

    [Fact]
    public void Bad_mac() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--net", "tap=ft0,mac=52:54:00:12:34"), "mac \"52:54:00:12:34\" is not a MAC address");

    [Fact]
    public void Multicast_mac() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--net", "tap=ft0,mac=01:00:5e:00:00:01"), "a card needs a unicast one");

    [Fact]
    public void Tap_name_too_long() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--net", "tap=a-name-longer-than-15"), "a tap name is 1 to 15 characters");

    [Fact]
    public void Tap_in_use_by_another_process()
    {
        // Held here, never brought up: no frame crosses it.
        string name = TestNetns.UniqueInterfaceName("fbad");
        using var held = Ferry.Kvm.TapDevice.Open(name);
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--net", $"tap={name}"), $"tap {name} is in use by another process");
    }

    [Fact]
    public void Too_many_vcpus() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--cpus", "64"), "--cpus 64");

    [Fact]
    public void Zero_vcpus() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--cpus", "0"), "--cpus 0");

    [Fact]
    public void Unknown_option() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--frobnicate"), "--frobnicate");

    [Fact]
    public void Nonsense_size() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--memory", "lots"), "not a size");

    [Fact]
    public void Missing_initrd() =>
        AssertRefused(FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--initrd", Path.Combine(_dir, "none.cpio")), "no such file");

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
