using Ferry.Api;
using Ferry.Kvm;
using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Blk;
using Ferry.Vmm.Devices.Virtio.Net;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm;

/// <summary>The VM's virtio-mmio devices: one window, one irqfd and one ioeventfd each, and their I/O threads.</summary>
public sealed partial class KvmVm
{
    private readonly MmioBus _mmio = new();
    private readonly List<VirtioBlkSlot> _disks = [];
    private readonly List<VirtioNetSlot> _nets = [];
    private volatile bool _releaseBackendsOnSave;
    /// <summary>Set by LoadState: the devices' interrupts are raised again when the VM first runs (ReleaseDevices).</summary>
    private volatile bool _reassertInterrupts;

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

    /// <summary>One network card's device: the virtio-net device, its transport and its interrupt eventfd.</summary>
    private sealed class VirtioNetSlot(VirtioNet net, VirtioMmioTransport transport, EventFd irq) : IDisposable
    {
        public VirtioNet Net => net;
        public VirtioMmioTransport Transport => transport;

        public void Dispose()
        {
            net.Dispose();
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
            try
            {
                if (lockNow) image.Lock();
            }
            catch
            {
                image.Dispose();
                throw;
            }
            string thread = $"virtio-blk{i}";
            PlaceVirtio(i, ram, image, interrupt => new VirtioBlk(image, disk.Id, ram, interrupt, thread),
                (blk, transport, irq) => _disks.Add(new VirtioBlkSlot(blk, transport, irq)));
        }
    }

    /// <summary>
    /// Puts a virtio-net card per configured network card on the MMIO bus, after the disks. A new
    /// VM opens its taps at once (<paramref name="openNow"/>); a VM built for a snapshot or a
    /// migration only checks that each tap could be opened (so a missing one, or one this user may
    /// not use, fails early) and opens them in LoadState, once a migration's source has let go.
    /// </summary>
    private void AttachNets(bool openNow)
    {
        var ram = new DeviceGuestRam(_memory);
        for (int i = 0; i < Config.Nets.Length; i++)
        {
            var config = Config.Nets[i];
            int index = Config.Disks.Length + i;
            TapDevice? tap = openNow ? OpenTap(config.Tap) : null;
            if (!openNow) CheckTap(config.Tap);
            string thread = $"virtio-net{i}";
            PlaceVirtio(index, ram, tap, interrupt => new VirtioNet(config.MacAddress, tap, ram, interrupt, thread),
                (net, transport, irq) => _nets.Add(new VirtioNetSlot(net, transport, irq)));
        }
    }

    /// <summary>
    /// Puts one virtio device in MMIO slot <paramref name="index"/>: its interrupt line (an irqfd
    /// on the slot's GSI), its QueueNotify doorbell (an ioeventfd that wakes its worker without
    /// stopping the vCPU) and its transport on the bus; <paramref name="keep"/> records it. On any
    /// failure nothing of it stays: the device (which owns its backend once made) or else the
    /// <paramref name="backend"/> itself is disposed.
    /// </summary>
    private void PlaceVirtio<TDevice>(int index, DeviceGuestRam ram, IDisposable? backend, Func<VirtioInterrupt, TDevice> create,
        Action<TDevice, VirtioMmioTransport, EventFd> keep) where TDevice : class, IVirtioDevice, IDisposable
    {
        EventFd? irq = null;
        TDevice? device = null;
        try
        {
            irq = new EventFd();
            var interrupt = new VirtioInterrupt(new EventFdLine(irq));
            device = create(interrupt);
            var transport = new VirtioMmioTransport(device, ram, interrupt);
            ulong gpa = VirtioMmioLayout.Gpa(index);
            _vm.SetIrqfd(irq, VirtioMmioLayout.Gsi(index));
            _vm.SetIoeventfd(device.Worker.Notification, gpa + VirtioMmioTransport.QueueNotifyOffset, 4);
            _mmio.Add(gpa, VirtioMmioTransport.WindowBytes, transport);
            keep(device, transport, irq);
        }
        catch
        {
            if (device is not null) device.Dispose(); else backend?.Dispose();
            irq?.Dispose();
            throw;
        }
    }

    /// <summary>Opens tap <paramref name="name"/>; a failure is a VmConfigException in one line.</summary>
    internal static TapDevice OpenTap(string name)
    {
        try { return TapDevice.Open(name); }
        catch (KvmException e) { throw new VmConfigException(DescribeTapFailure(name, e)); }
    }

    /// <summary>
    /// Whether tap <paramref name="name"/> could be opened here: open and close it. A tap in use
    /// passes: at a migration's destination its source may hold it until it saves its state.
    /// </summary>
    private static void CheckTap(string name)
    {
        try { TapDevice.Open(name).Dispose(); }
        catch (KvmException e) when (e.Errno == Errno.EBUSY) { }
        catch (KvmException e) { throw new VmConfigException(DescribeTapFailure(name, e)); }
    }

    private static class Errno
    {
        public const int EPERM = 1, ENOENT = 2, EACCES = 13, EBUSY = 16, ENODEV = 19, EINVAL = 22;
    }

    private static string DescribeTapFailure(string name, KvmException e) => (e.Operation, e.Errno) switch
    {
        ("open", Errno.ENOENT or Errno.ENODEV) => $"tap {name}: no {TapDevice.CloneDevice} on this host (load the tun module: modprobe tun)",
        ("open", _) => $"tap {name}: cannot open {TapDevice.CloneDevice}: {e.Message}",
        ("TUNSETIFF", Errno.EPERM) => $"tap {name} does not exist and this user may not create it, or it belongs to another user " +
                                      $"(create it with `ip tuntap add {name} mode tap user USER`)",
        ("TUNSETIFF", Errno.EBUSY) => $"tap {name} is in use by another process (another VM?)",
        ("TUNSETIFF", Errno.EINVAL) => $"{name} is not a tap Ferry can use (an interface of another kind, or a tun device, has that name)",
        _ => $"tap {name}: {e.Message}",
    };

    /// <summary>Opens the tap of every card that has none (after a restore, or at a migration source that let go). Throws VmConfigException.</summary>
    private void OpenTaps()
    {
        foreach (var slot in _nets)
        {
            if (slot.Net.Tap is not null) continue;
            int i = _nets.IndexOf(slot);
            var tap = OpenTap(Config.Nets[i].Tap);
            slot.Net.Worker.Quiesce();
            try { slot.Net.AttachTap(tap); }
            finally { slot.Net.Worker.Release(); }
        }
    }

    /// <summary>Closes every card's tap: a migration's source, paused for the last time, lets the destination have it.</summary>
    private void CloseTaps()
    {
        foreach (var slot in _nets)
        {
            slot.Net.Worker.Quiesce();
            try { slot.Net.DetachTap()?.Dispose(); }
            finally { slot.Net.Worker.Release(); }
        }
    }

    /// <summary>Each card's tap, MAC and frame counters, for GET /vm.</summary>
    public IReadOnlyList<NetCardStatus> NetCards() =>
        [.. _nets.Select((slot, i) => new NetCardStatus(Config.Nets[i].Tap, Config.Nets[i].Mac, slot.Net.ReceivedFrames, slot.Net.TransmittedFrames,
            slot.Net.ReceiveDropped, slot.Net.ReceiveTooBig, slot.Net.TransmitDropped))];

    /// <summary>
    /// After a live migration, at the destination that now runs the VM: gratuitous RARP frames
    /// from each card's MAC on its tap (<see cref="NetAnnouncement"/>), so the network learns the
    /// guest's new port at once. Completes after the last frame (about 0.8 s).
    /// </summary>
    public Task AnnounceAsync(CancellationToken cancellationToken) =>
        _nets.Count == 0 ? Task.CompletedTask : NetAnnouncement.SendAsync([.. _nets.Select(n => n.Net)], TimeProvider.System, cancellationToken);

    /// <summary>
    /// Takes every disk's lock (reopening images a migration source closed). Throws
    /// VmConfigException naming a locked image. A `--copy-storage` destination calls it as soon as
    /// the VM exists: its images are its own from the start (LoadState then finds them locked).
    /// </summary>
    public void LockDisks()
    {
        foreach (var slot in _disks) slot.Blk.Disk.Lock();
    }

    /// <summary>Stops every device between requests: nothing is in flight until <see cref="ReleaseDevices"/>.</summary>
    private void HoldDevices()
    {
        foreach (var slot in _disks) slot.Blk.Worker.Quiesce();
        foreach (var slot in _nets) slot.Net.Worker.Quiesce();
        // Frames the guest already queued go out now: a saved state has nothing waiting to be sent.
        foreach (var slot in _nets) slot.Net.FlushTransmit();
    }

    private void ReleaseDevices()
    {
        // A completion the source signalled during its last pause may have reached its
        // InterruptStatus (saved) but not its irqchip (captured just before: KVM injects an
        // irqfd's edge from a worker, a moment later). The guest would then wait for an interrupt
        // that never comes. So a loaded VM raises the line once more for every device whose
        // InterruptStatus is set; at worst the driver finds nothing new in its used ring.
        if (_reassertInterrupts)
        {
            _reassertInterrupts = false;
            foreach (var slot in _disks) slot.Transport.ReassertInterrupt();
            foreach (var slot in _nets) slot.Transport.ReassertInterrupt();
        }
        foreach (var slot in _disks) slot.Blk.Worker.Release();
        foreach (var slot in _nets) slot.Net.Worker.Release();
    }

    /// <summary>
    /// For a migration's source: SaveState (the VM paused for the last time) then closes every
    /// image, which drops its lock, and every tap, so the destination can take them before it says
    /// Ready. If the migration fails, Resume takes them again before the guest runs on. Off again with false.
    /// </summary>
    public void ReleaseBackendsOnSave(bool release) => _releaseBackendsOnSave = release;

    private void DisposeDevices()
    {
        foreach (var slot in _disks) slot.Dispose();
        _disks.Clear();
        foreach (var slot in _nets) slot.Dispose();
        _nets.Clear();
    }
}
