using System.Security.Cryptography;
using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;
using Grpc.Core;

namespace Ferry.Agent.Tests;

/// <summary>
/// `vm migrate --copy-storage`: the destination agent gives the VM an image of its own in its
/// state directory, and the source's image (on this test's shared filesystem, a path both agents
/// could open) is left alone. A copy that cannot be made is refused before anything starts.
/// </summary>
public sealed partial class MigrationTests
{
    private string[] CreateWithDisk(string name, string disk, string program, string args) =>
        ["--host", "h1", "vm", "create", name, "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "128M", "--cpus", "1",
         "--disk", disk, "--cmdline", TestCluster.GuestCmdline(program, args)];

    private string CopiedImage(string host, string name) => Path.Combine(_cluster.StateDir(host), "vms", name, "disks", "disk0.img");

    private static string Acl(string path) => TestNetns.Run("getfacl", "-n", "-c", path);

    [KvmFact]
    public void With_copy_storage_a_vm_moves_onto_an_image_of_the_destinations_own_and_the_sources_image_is_left_alone()
    {
        string image = Path.Combine(_cluster.Root, "data.img"), copy = CopiedImage("h2", "disky");
        File.WriteAllBytes(image, new byte[8 << 20]);
        Assert.Equal(0, _cluster.Ferry(CreateWithDisk("disky", image, "blkverify", "--blocks 512 --rate 200 --sync 10")).Code);
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "start", "disky").Code);
        _cluster.WaitForConsole("h1", "disky", "blkverify OK");
        int sourcePid = _cluster.VmmPid("h1", "disky");
        string sourceAcl = Acl(image);
        using var h1 = _cluster.Connect("h1");
        using var h2 = _cluster.Connect("h2");

        // A copy that fails (here the source VMM refuses an option) leaves no image behind at the destination.
        var refused = _cluster.Ferry("--host", "h1", "vm", "migrate", "disky", "--to", "h2", "--copy-storage", "--on-no-converge", "sometimes");
        Assert.NotEqual(0, refused.Code);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((h2.Client.GetVm(new VmRef { Name = "disky" }).Pid != 0 || File.Exists(copy)) && DateTime.UtcNow < deadline) Thread.Sleep(100);
        Assert.False(File.Exists(copy), $"{copy} is left after a failed receive");
        var failed = h2.Client.GetVm(new VmRef { Name = "disky" });
        Assert.Equal("defined", failed.State);
        Assert.StartsWith("a migration in failed", failed.Detail);
        Assert.Equal(copy, Assert.Single(failed.Definition.Disks).Path);

        var moved = _cluster.Ferry("--host", "h1", "vm", "migrate", "disky", "--to", "h2", "--mode", "precopy", "--copy-storage", "--json");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        Assert.Contains("\"storage\":{\"disk_bytes_sent\":", moved.Stdout);

        // The destination runs it on an image in its own state directory, and says so.
        Assert.Contains($"  disk disk0: {copy}", _cluster.Ferry("--host", "h2", "vm", "show", "disky").Stdout);
        Assert.Equal(new FileInfo(image).Length, new FileInfo(copy).Length);
        Assert.Matches(@"(?m)^user:1\d{9}:rw-$", Acl(copy));
        // blkverify goes on there, re-reading on the copy what it synced at the source.
        int after = _cluster.WaitForConsole("h2", "disky", "blkverify OK");
        after = _cluster.WaitForConsole("h2", "disky", "blkverify OK", from: after);

        // The source's image: its VMM is gone, no receiver was given it (no new ACL entry), and it
        // stands still while the guest writes on at the destination.
        for (int i = 0; i < 100 && Directory.Exists($"/proc/{sourcePid}"); i++) Thread.Sleep(100);
        Assert.False(Directory.Exists($"/proc/{sourcePid}"), "the source VMM did not end");
        byte[] sourceContent = SHA256.HashData(File.ReadAllBytes(image));
        after = _cluster.WaitForConsole("h2", "disky", "blkverify OK", from: after);
        _cluster.WaitForConsole("h2", "disky", "blkverify OK", from: after);
        Assert.Equal(sourceContent, SHA256.HashData(File.ReadAllBytes(image)));
        Assert.Equal(sourceAcl, Acl(image));
        Assert.DoesNotContain("FAIL", _cluster.Console("h2", "disky"));
        var here = h1.Client.GetVm(new VmRef { Name = "disky" });
        Assert.Equal("migrated", here.State);
        Assert.Equal(image, Assert.Single(here.Definition.Disks).Path);

        // And back in post-copy: the jailed source reads its image after the switchover (its copy's
        // own handle), and blkverify at h1 fetches the blocks it touches before the push brings them.
        int before = Console("h1").Length;
        var back = _cluster.Ferry("--host", "h2", "vm", "migrate", "disky", "--to", "h1", "--mode", "postcopy", "--copy-storage", "--json");
        Assert.True(back.Code == 0, $"{back.Stdout}\n{back.Stderr}");
        Assert.Contains("\"blocks_requested\":", back.Stdout);
        string copyBack = CopiedImage("h1", "disky");
        Assert.Contains($"  disk disk0: {copyBack}", _cluster.Ferry("--host", "h1", "vm", "show", "disky").Stdout);
        Assert.Equal(new FileInfo(image).Length, new FileInfo(copyBack).Length);
        after = _cluster.WaitForConsole("h1", "disky", "blkverify OK", from: before);
        _cluster.WaitForConsole("h1", "disky", "blkverify OK", from: after);
        Assert.DoesNotContain("FAIL", Console("h1")[before..]);
    }

    private string Console(string host) => _cluster.Console(host, "disky");

    [Fact]
    public void Copy_storage_of_a_vm_without_disks_or_with_a_readonly_one_is_refused_in_one_line_with_nothing_started()
    {
        string image = Path.Combine(_cluster.Root, "base.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "create", "plain", "--kernel", TestGuest.Kernel, "--memory", "64M").Code);
        Assert.Equal(0, _cluster.Ferry(CreateWithDisk("ro", $"{image},readonly", "memtouch", "--mb 1")).Code);

        var noDisks = _cluster.Ferry("--host", "h1", "vm", "migrate", "plain", "--to", "h2", "--copy-storage");
        Assert.Equal(2, noDisks.Code);
        Assert.Equal("ferry: plain has no disks, so --copy-storage has nothing to copy: leave it out", noDisks.Stderr.Trim());
        var readOnly = _cluster.Ferry("--host", "h1", "vm", "migrate", "ro", "--to", "h2", "--copy-storage");
        Assert.Equal(2, readOnly.Code);
        Assert.Equal($"ferry: --copy-storage copies only writable disks, and ro's disk disk0 ({image}) is readonly", readOnly.Stderr.Trim());

        using var h2 = _cluster.Connect("h2");
        Assert.Empty(h2.Client.ListVms(new ListVmsRequest()).Vms);
    }

    [KvmFact]
    public void A_destination_without_room_for_the_images_refuses_the_copy_before_it_starts_a_receiver()
    {
        // Sparse: it takes no room here, and is larger than the destination's filesystem has free.
        string image = Path.Combine(_cluster.Root, "huge.img");
        using (var file = File.Create(image)) file.SetLength(new DriveInfo(_cluster.StateDir("h2")).AvailableFreeSpace + (1L << 40));
        Assert.Equal(0, _cluster.Ferry(CreateWithDisk("big", image, "memtouch", "--mb 1 --rate 10")).Code);
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "start", "big").Code);
        int pid = _cluster.VmmPid("h1", "big");

        var refused = _cluster.Ferry("--host", "h1", "vm", "migrate", "big", "--to", "h2", "--copy-storage");
        Assert.Equal(2, refused.Code);
        Assert.Matches(@"^ferry: the destination agent: not enough free space for big's disk images: they need \d+\.\d GiB and this agent's state directory \S+/h2 has \d+\.\d GiB free$",
            refused.Stderr.Trim());
        using var h1 = _cluster.Connect("h1");
        using var h2 = _cluster.Connect("h2");
        var vm = h1.Client.GetVm(new VmRef { Name = "big" });
        Assert.Equal("running", vm.State);
        Assert.Equal(pid, vm.Pid);
        var absent = Assert.Throws<RpcException>(() => h2.Client.GetVm(new VmRef { Name = "big" }));
        Assert.Equal(StatusCode.FailedPrecondition, absent.StatusCode);
        Assert.False(Directory.Exists(Path.Combine(_cluster.StateDir("h2"), "vms", "big")), "the refusal left files at the destination");
    }
    [KvmFact]
    public void The_copies_being_received_count_against_the_room_the_next_one_needs()
    {
        // Two receives each asking for two thirds of the free space: each fits alone, not both at once.
        ulong each = (ulong)new DriveInfo(_cluster.StateDir("h2")).AvailableFreeSpace / 3 * 2;
        PrepareReceiveRequest Receive(string name) => new()
        {
            Definition = new VmDefinition
            {
                Name = name, Kernel = TestGuest.Kernel, Initrd = TestGuest.Initrd, MemoryBytes = 64UL << 20, Cpus = 1,
                Cmdline = TestCluster.GuestCmdline("memtouch", "--mb 1 --rate 10"), Disks = { new DiskDefinition { Path = "/the/source/s/disk.img" } },
            },
            MigrationToken = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
            Mode = "precopy",
            CopyStorage = true,
            DiskSizeBytes = { each },
        };
        using var h2 = _cluster.Connect("h2");
        h2.Client.PrepareReceive(Receive("first"));
        var refused = Assert.Throws<RpcException>(() => h2.Client.PrepareReceive(Receive("second")));
        Assert.Matches(@"^not enough free space for second's disk images: they need \d+\.\d GiB and this agent's state directory \S+/h2 has \d+\.\d GiB free, \d+\.\d GiB of it promised to the copies being received now$",
            refused.Status.Detail);
        Assert.False(Directory.Exists(Path.Combine(_cluster.StateDir("h2"), "vms", "second")), "the refusal left files at the destination");

        // Once the first receive has ended, its room is free again.
        h2.Client.AbortReceive(new VmRef { Name = "first" });
        h2.Client.PrepareReceive(Receive("second"));
        h2.Client.AbortReceive(new VmRef { Name = "second" });
    }
}
