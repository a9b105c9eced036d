using System.Security.Cryptography;
using Ferry.Tests.Shared;

namespace Ferry.Guest.Tests;

/// <summary>
/// The test guest's virtio-blk driver and /dev/vda, under QEMU's virtio-blk (microvm, virtio-mmio
/// version 2): what blkverify writes survives into a second boot, and unchanged busybox reads and
/// writes the device the way the host sees the image.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class QemuDiskTests
{
    private const int ImageBytes = 16 << 20;
    private const string Busybox = "/bin/busybox";

    private static (int Code, string Console) Boot(string kernel, string initrd, string image, string cmdline, bool acpi = true, int cpus = 2)
    {
        var args = new List<string> { "--smp", cpus.ToString(), "--mem", "512M", "--timeout", "240", "--disk", image };
        if (!acpi) args.Add("--no-acpi");
        args.AddRange([kernel, initrd, cmdline]);
        return GuestProcess.Run(Path.Combine(TestGuest.RepositoryRoot, "guest", "kernel", "test-qemu.sh"), TimeSpan.FromSeconds(300), [.. args]);
    }

    private static string Md5(byte[] bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));

    [KvmFact]
    public void A_disk_written_by_blkverify_verifies_clean_in_a_second_boot()
    {
        string dir = Directory.CreateTempSubdirectory("ferry-disk-").FullName;
        try
        {
            string image = Path.Combine(dir, "disk.img");
            File.WriteAllBytes(image, new byte[ImageBytes]);

            var write = Boot(TestGuest.Kernel, TestGuest.Initrd, image, TestGuest.Run("blkverify", "--rate 400 --seconds 3 --hb-ms 500"));
            Assert.True(write.Code == 0, $"QEMU exited {write.Code}:\n{write.Console}");
            Assert.Matches(@"ferry-guest: virtio-blk /dev/vda at 0x[0-9a-f]+ gsi=\d+ sectors=32768 flush", write.Console);
            Assert.Matches(@"blkverify done written=[1-9]\d* acked=[1-9]\d* verified=[1-9]\d* bad=0", write.Console);
            Assert.Contains("ferry-guest: workload exited status=0", write.Console);
            Assert.DoesNotContain("ferry-guest: panic", write.Console);

            // The second boot has no ACPI: QEMU itself puts the device on the command line, at
            // another address and IRQ, on the first IOAPIC.
            var verify = Boot(TestGuest.Kernel, TestGuest.Initrd, image, TestGuest.Run("blkverify", "--verify-only"), acpi: false, cpus: 1);
            Assert.True(verify.Code == 0, $"QEMU exited {verify.Code}:\n{verify.Console}");
            Assert.Matches(@"blkverify verified dev=/dev/vda blocks=4095 acked=[1-9]\d* gen=1 written=[1-9]\d* zero=\d+ bad=0", verify.Console);
            Assert.Contains("ferry-guest: workload exited status=0", verify.Console);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [KvmFact]
    public void Busybox_dd_and_md5sum_see_the_device_as_the_host_sees_the_image()
    {
        Assert.True(File.Exists(Busybox), $"{Busybox} is missing: install Debian's busybox-static (./test.sh does)");
        string dir = Directory.CreateTempSubdirectory("ferry-disk-").FullName;
        try
        {
            // A guest whose initrd also holds busybox, and an image of random bytes.
            var build = GuestProcess.Run(Path.Combine(TestGuest.RepositoryRoot, "guest", "build.sh"), TimeSpan.FromSeconds(300),
                "--out", dir, "--add", Busybox);
            Assert.True(build.Code == 0, build.Output);
            string kernel = Path.Combine(dir, "ferry-guest.elf"), initrd = Path.Combine(dir, "initrd.cpio"), image = Path.Combine(dir, "disk.img");
            var bytes = new byte[ImageBytes];
            new Random(13).NextBytes(bytes);
            File.WriteAllBytes(image, bytes);

            // dd with 1000-byte blocks at byte 3000: every write is partial in some sector, so the
            // kernel's read-modify-write runs; md5sum at the same time reads the whole device.
            var run = Boot(kernel, initrd, image,
                "ferry.workload=busybox;busybox ferry.args=\"dd if=/bin/blkverify of=/dev/vda bs=1000 seek=3 conv=notrunc,fsync;md5sum /dev/vda\" ferry.poweroff=1");
            Assert.True(run.Code == 0, $"QEMU exited {run.Code}:\n{run.Console}");
            Assert.Matches(@"\d+\+\d+ records out", run.Console);
            Assert.DoesNotContain("ferry-guest: panic", run.Console);
            Assert.DoesNotMatch(@"workload exited status=[1-9]", run.Console);

            var after = File.ReadAllBytes(image);
            var program = ReadFromInitrd(initrd, "bin/blkverify");
            Assert.Equal(program, after.AsSpan(3000, program.Length).ToArray());
            Assert.Equal(bytes.AsSpan(0, 3000).ToArray(), after.AsSpan(0, 3000).ToArray());
            Assert.Equal(bytes.AsSpan(3000 + program.Length).ToArray(), after.AsSpan(3000 + program.Length).ToArray());

            // A second boot: md5sum of the device is the host's md5 of the image.
            var sum = Boot(kernel, initrd, image, "ferry.workload=busybox ferry.args=\"md5sum /dev/vda\" ferry.poweroff=1");
            Assert.True(sum.Code == 0, $"QEMU exited {sum.Code}:\n{sum.Console}");
            Assert.Contains($"{Md5(after)}  /dev/vda", sum.Console);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A file of a cpio "newc" archive (guest/build.sh's initrd).</summary>
    private static byte[] ReadFromInitrd(string initrd, string name)
    {
        var a = File.ReadAllBytes(initrd);
        for (int off = 0; off + 110 <= a.Length;)
        {
            int Hex(int at) => Convert.ToInt32(System.Text.Encoding.ASCII.GetString(a, off + at, 8), 16);
            int fileSize = Hex(54), nameSize = Hex(94);
            string entry = System.Text.Encoding.ASCII.GetString(a, off + 110, nameSize - 1);
            int data = (off + 110 + nameSize + 3) & ~3;
            if (entry.TrimStart('.', '/') == name) return a.AsSpan(data, fileSize).ToArray();
            if (entry == "TRAILER!!!") break;
            off = (data + fileSize + 3) & ~3;
        }
        throw new InvalidOperationException($"{name} is not in {initrd}");
    }
}
