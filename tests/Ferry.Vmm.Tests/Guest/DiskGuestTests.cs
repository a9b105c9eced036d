using Ferry.Tests.Shared;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Guest;

/// <summary>The test guest's virtio-blk driver against Ferry's device: what blkverify writes verifies clean, also after a snapshot.</summary>
[Collection(KvmCollection.Name)]
public sealed class DiskGuestTests : IDisposable
{
    private const ulong Memory = 512UL << 20;
    private readonly string _image = Path.Combine(Path.GetTempPath(), $"ferry-guest-disk-{Guid.NewGuid():N}.img");

    public DiskGuestTests() => File.WriteAllBytes(_image, new byte[16 << 20]);

    public void Dispose() => File.Delete(_image);

    [KvmFact]
    public async Task A_disk_blkverify_wrote_verifies_clean_in_a_second_VM()
    {
        using (var writer = RunningGuest.Start(1, Memory, TestGuest.Run("blkverify", "--rate 200 --seconds 3 --hb-ms 500") + " ferry.poweroff=1",
                   new DiskConfig(_image, false, "data")))
        {
            writer.WaitFor(@"ferry-guest: virtio-blk /dev/vda at 0xd0000000 gsi=16 sectors=32768", 120);
            writer.WaitFor(@"blkverify done written=[1-9]\d* acked=[1-9]\d* verified=[1-9]\d* bad=0", 240);
            Assert.Equal(VmExitKind.PowerOff, (await writer.ExitAsync(120)).Kind);
        }
        using var reader = RunningGuest.Start(1, Memory, TestGuest.Run("blkverify", "--verify-only") + " ferry.poweroff=1",
            new DiskConfig(_image, true, "data"));
        reader.WaitFor(@"ferry-guest: virtio-blk /dev/vda at 0xd0000000 gsi=16 sectors=32768 read-only", 120);
        reader.WaitFor(@"bad=0", 240);
        Assert.Equal(VmExitKind.PowerOff, (await reader.ExitAsync(120)).Kind);
    }

    [KvmFact]
    public void A_second_VM_on_a_writable_image_is_refused()
    {
        using var first = RunningGuest.Create(1, Memory, TestGuest.Run("hello-musl", "x"), new DiskConfig(_image, false, "data"));
        var e = Assert.Throws<VmConfigException>(() => RunningGuest.Create(1, Memory, TestGuest.Run("hello-musl", "x"), new DiskConfig(_image, true, "data")));
        Assert.Equal($"disk {_image} is in use by another VM", e.Message);
    }

    [KvmFact]
    public async Task A_snapshot_taken_while_blkverify_writes_restores_and_verifies_clean()
    {
        byte[] state;
        byte[] ram;
        var disk = new DiskConfig(_image, false, "data");
        using (var source = RunningGuest.Start(1, Memory, TestGuest.Run("blkverify", "--rate 200 --seconds 6 --hb-ms 500") + " ferry.poweroff=1", disk))
        {
            source.WaitFor(@"blkverify .*written=[1-9]", 180);
            source.Vm.Pause();
            state = source.Vm.SaveState();
            ram = new byte[Memory];
            source.Vm.ReadGuest(0, ram);
        }
        using var restored = RunningGuest.Create(1, Memory, TestGuest.Run("blkverify", "x"), disk);
        restored.Vm.WriteGuest(0, ram);
        restored.Vm.LoadState(state);
        restored.Vm.Start();
        restored.WaitFor(@"blkverify done written=[1-9]\d* acked=[1-9]\d* verified=[1-9]\d* bad=0", 240);
        Assert.Equal(VmExitKind.PowerOff, (await restored.ExitAsync(120)).Kind);
    }
}
