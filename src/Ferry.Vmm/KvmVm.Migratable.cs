using Ferry.Kvm;
using Ferry.Migration.Vm;
using Ferry.Vmm.Devices.InKernel;
using Ferry.Vmm.Devices.Virtio.Blk;
using Ferry.Vmm.Devices.Virtio.Net;
using Ferry.Vmm.State;

namespace Ferry.Vmm;

/// <summary>The KVM VM as the migration engine sees it; its disk images too, for `--copy-storage`.</summary>
public sealed partial class KvmVm : IMigratableVm, IMigratableDisks
{
    /// <summary>The images in device order; the engine reads and tracks them (source) or writes them (destination, before the VM runs).</summary>
    IReadOnlyList<IMigratableDisk> IMigratableDisks.Disks => [.. _disks.Select(d => d.Blk.Disk)];

    GuestMemoryLayout IMigratableVm.Memory => _memory.Layout;

    public void ReadGuest(ulong gpa, Span<byte> destination) => _memory.Span(gpa, destination.Length).CopyTo(destination);

    public void WriteGuest(ulong gpa, ReadOnlySpan<byte> source) => _memory.Write(gpa, source);

    public Memory<byte> GuestRam(ulong gpa, int length, bool toFill) => _memory.Memory(gpa, length, toFill);

    public IDirtyLog StartDirtyLog() => new KvmDirtyLog(_vm, _memory);

    public PageSet ResidentPages(MemoryRegion region) => _memory.ResidentPages(region);

    /// <summary>Auto-converge: each vCPU stops for <paramref name="percent"/> % of every 10 ms.</summary>
    public void SetThrottle(int percent) => _throttle.Set(percent);

    /// <summary>Pauses on the calling thread: a hop to another thread would add its latency to the downtime.</summary>
    public Task PauseAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Pause();
        return Task.CompletedTask;
    }

    public Task ResumeAsync(CancellationToken cancellationToken)
    {
        Resume();
        return Task.CompletedTask;
    }

    /// <summary>
    /// vCPUs, then one entry per device: in-kernel PIC/IOAPIC, PIT, kvmclock and the UART
    /// (<see cref="VmState"/>). Call while paused.
    /// </summary>
    public byte[] SaveState()
    {
        lock (_controlLock)
        {
            if (State != VmRunState.Paused) throw new InvalidOperationException("the VM must be paused to save its state");
            int xsaveSize = Math.Max(_kvm.CheckExtension(KvmCapability.Xsave2), 4096);
            var msrIndices = _kvm.GetMsrIndexList();
            var state = new VmState
            {
                XsaveSize = xsaveSize,
                // The CPU the guest was given travels with it, so a restore can refuse a host that lacks part of it.
                Cpuids = [.. _cpuid],
                Vcpus = [.. _vcpus.Select(v => VcpuState.Capture(v.Fd, xsaveSize, msrIndices))],
                Irqchip = IrqchipState.Capture(_vm),
                Pit = PitState.Capture(_vm),
                Clock = new KvmClockState(_clockAtPause),
                Serial = _serial.Save(),
                // The devices were drained at the pause: every request taken is in its used ring.
                Disks = [.. _disks.Select(d => new VirtioBlkState(d.Transport.Save(), d.Blk.Disk.CapacitySectors))],
                // Transmit was flushed at the pause; receive buffers were not touched since.
                Nets = [.. _nets.Select(n => new VirtioNetState(n.Transport.Save(), n.Net.Mac, n.Net.LinkStatus))],
            }.Encode();
            // A migration's source lets go of its images now, so the destination can lock them
            // before it says Ready (docs/devices.md); Resume takes them back if the migration fails.
            if (_releaseBackendsOnSave)
            {
                foreach (var slot in _disks) slot.Blk.Disk.Close();
                CloseTaps();
            }
            return state;
        }
    }

    /// <summary>
    /// Loads SaveState's output into this VM, which must not have started yet (or be paused).
    /// The whole state is decoded and checked first (<see cref="VmState"/>); a value KVM still
    /// refuses is reported with the vCPU or device it belongs to. The UART is built anew from its
    /// record and takes the old one's ports. Errors start with "the device state section".
    /// </summary>
    public void LoadState(ReadOnlySpan<byte> state)
    {
        lock (_controlLock)
        {
            if (State is not (VmRunState.Created or VmRunState.Paused)) throw new InvalidOperationException("state can only be loaded into a VM that is not running");
            var decoded = VmState.Decode(state, _vcpus.Count, HostStateLimits.Of(_kvm), _disks.Count, _nets.Count);
            for (int i = 0; i < _disks.Count; i++)
            {
                var saved = decoded.Disks[i];
                var slot = _disks[i];
                string? why = saved.CapacitySectors != slot.Blk.Disk.CapacitySectors
                    ? $"the disk had {saved.CapacitySectors} sectors, {slot.Blk.Disk.Path} has {slot.Blk.Disk.CapacitySectors}"
                    : slot.Transport.CheckRestorable(saved.Transport);
                if (why is not null) throw new InvalidDataException($"{VmState.Section}: device {DeviceIds.VirtioBlk(i)}: {why}");
            }
            for (int i = 0; i < _nets.Count; i++)
            {
                var saved = decoded.Nets[i];
                var slot = _nets[i];
                string? why = saved.Mac != slot.Net.Mac
                    ? $"the card had MAC {saved.Mac}, the configuration says {slot.Net.Mac}"
                    : slot.Transport.CheckRestorable(saved.Transport);
                if (why is not null) throw new InvalidDataException($"{VmState.Section}: device {DeviceIds.VirtioNet(i)}: {why}");
            }
            // The images' locks and the taps, last of the checks: at a migration's destination this
            // is where the source must already have let go, and a failure here still comes before Ready.
            LockDisks();
            OpenTaps();

            // Everything parsed and checked: only now change the VM.
            string part = "";
            try
            {
                for (int i = 0; i < decoded.Vcpus.Length; i++)
                {
                    part = $"vCPU {i}";
                    _vcpus[i].Fd.SetCpuid(decoded.Cpuids[i]);
                    _cpuid[i] = decoded.Cpuids[i];
                    decoded.Vcpus[i].Apply(_vcpus[i].Fd);
                }
                part = $"device {DeviceIds.Irqchip}";
                decoded.Irqchip.Apply(_vm);
                part = $"device {DeviceIds.Pit}";
                decoded.Pit.Apply(_vm);
                part = $"device {DeviceIds.KvmClock}";
                _clockAtPause = decoded.Clock.Clock with { Flags = 0, Realtime = 0, HostTsc = 0 };
                _vm.SetClock(_clockAtPause);
            }
            catch (KvmException e)
            {
                throw new InvalidDataException($"{VmState.Section}: {part}: KVM refused the saved value ({e.Operation}: {e.Message})");
            }
            var serial = Devices.Serial.Serial.Restore(decoded.Serial, _serialIrq, _consoleOutput);
            _ports.Replace(_serial, serial);
            _serial = serial;
            for (int i = 0; i < _disks.Count; i++) _disks[i].Transport.Restore(decoded.Disks[i].Transport);
            for (int i = 0; i < _nets.Count; i++) _nets[i].Transport.Restore(decoded.Nets[i].Transport);
            _reassertInterrupts = true;
        }
    }
}
