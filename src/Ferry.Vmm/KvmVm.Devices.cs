using Ferry.Kvm;
using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Blk;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm;

/// <summary>The VM's virtio-mmio devices: one window, one irqfd and one ioeventfd each, and their I/O threads.</summary>
public sealed partial class KvmVm
{
    private readonly MmioBus _mmio = new();
    private readonly List<VirtioBlkSlot> _disks = [];
    private volatile bool _releaseDisksOnSave;

    /// <summary>One disk's device: the virtio-blk device, its transport and its interrupt eventfd.</summary>
    private sealed class VirtioBlkSlot(VirtioBlk blk, VirtioMmioTransport transport, EventFd irq) : IDisposable
    {
        public VirtioBlk Blk => blk;
        public VirtioMmioTransport Transport => transport;

        public void Dispose()
        {
            blk.Dispose();
            irq.Dispose();
        }
    }

    /// <summary>An irqfd: the I/O thread writes the eventfd and KVM raises the GSI, with no ioctl.</summary>
    private sealed class EventFdLine(EventFd fd) : IIrqLine
    {
        public void Pulse() => fd.Signal();
    }

    /// <summary>
    /// Opens every disk of the configuration and puts its device on the MMIO bus. A new VM locks
    /// its images at once (<paramref name="lockNow"/>); a VM built for a snapshot or a migration
    /// only opens them (so a missing or unwritable image fails early) and locks them in LoadState,
    /// once a migration's source has let go of them.
    /// </summary>
    private void AttachDisks(bool lockNow)
    {
        var ram = new DeviceGuestRam(_memory);
        for (int i = 0; i < Config.Disks.Length; i++)
        {
            var disk = Config.Disks[i];
            var image = DiskImage.Open(disk.Path, disk.ReadOnly);
            EventFd? irq = null;
            VirtioBlk? blk = null;
            try
            {
                if (lockNow) image.Lock();
                irq = new EventFd();
                var interrupt = new VirtioInterrupt(new EventFdLine(irq));
                blk = new VirtioBlk(image, disk.Id, ram, interrupt, $"virtio-blk{i}");
                var transport = new VirtioMmioTransport(blk, ram, interrupt);
                ulong gpa = VirtioMmioLayout.Gpa(i);
                _vm.SetIrqfd(irq, VirtioMmioLayout.Gsi(i));
                _vm.SetIoeventfd(blk.Worker.Notification, gpa + VirtioMmioTransport.QueueNotifyOffset, 4);
                _mmio.Add(gpa, VirtioMmioTransport.WindowBytes, transport);
                _disks.Add(new VirtioBlkSlot(blk, transport, irq));
            }
            catch
            {
                if (blk is not null) blk.Dispose(); else image.Dispose();
                irq?.Dispose();
                throw;
            }
        }
    }

    /// <summary>Takes every disk's lock (reopening images a migration source closed). Throws VmConfigException naming a locked image.</summary>
    private void LockDisks()
    {
        foreach (var slot in _disks) slot.Blk.Disk.Lock();
    }

    /// <summary>Stops every device between requests: nothing is in flight until <see cref="ReleaseDevices"/>.</summary>
    private void HoldDevices()
    {
        foreach (var slot in _disks) slot.Blk.Worker.Quiesce();
    }

    private void ReleaseDevices()
    {
        foreach (var slot in _disks) slot.Blk.Worker.Release();
    }

    /// <summary>
    /// For a migration's source: SaveState (the VM paused for the last time) then closes every
    /// image, which drops its lock, so the destination can take it before it says Ready. If the
    /// migration fails, Resume takes the locks again before the guest runs on. Off again with false.
    /// </summary>
    public void ReleaseDisksOnSave(bool release) => _releaseDisksOnSave = release;

    private void DisposeDevices()
    {
        foreach (var slot in _disks) slot.Dispose();
        _disks.Clear();
    }
}
