using Ferry.Kvm;
using Ferry.Kvm.Structs;
using Ferry.Migration.Vm;
using Ferry.Vmm.Cpu;
using Ferry.Vmm.Devices.Serial;
using Ferry.Vmm.State;

namespace Ferry.Vmm;

/// <summary>The KVM VM as the migration engine sees it.</summary>
public sealed partial class KvmVm : IMigratableVm
{
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

    /// <summary>vCPUs, in-kernel PIC/IOAPIC/PIT, kvmclock and the UART. Call while paused.</summary>
    public byte[] SaveState()
    {
        lock (_controlLock)
        {
            if (State != VmRunState.Paused) throw new InvalidOperationException("the VM must be paused to save its state");
            var w = new StateWriter();
            w.U64(VmState.Magic);
            w.U32(VmState.Version);
            int xsaveSize = Math.Max(_kvm.CheckExtension(KvmCapability.Xsave2), 4096);
            var msrIndices = _kvm.GetMsrIndexList();
            w.U32((uint)xsaveSize);
            w.U32((uint)_vcpus.Count);
            for (int i = 0; i < _vcpus.Count; i++)
            {
                // The CPU the guest was given travels with it, so a restore can refuse a host that lacks part of it.
                w.U32((uint)_cpuid[i].Length);
                foreach (var entry in _cpuid[i]) w.Struct(entry);
                VcpuState.Capture(_vcpus[i].Fd, xsaveSize, msrIndices).Write(w);
            }
            for (uint chip = 0; chip < 3; chip++) w.Struct(_vm.GetIrqchip(chip));
            w.Struct(_vm.GetPit2());
            w.Struct(_clockAtPause);
            var serial = Serial.Save();
            w.U32(SerialState.Version);
            w.U32(serial.Ier); w.U32(serial.Lcr); w.U32(serial.Mcr); w.U32(serial.Scratch); w.U32(serial.Divisor);
            w.U32(serial.ThrEmptyPending ? 1u : 0u);
            w.Blob(serial.PendingInput);
            return w.ToArray();
        }
    }

    /// <summary>
    /// Loads SaveState's output into this VM, which must not have started yet (or be paused).
    /// The whole state is decoded and checked first (<see cref="VmState"/>); a value KVM still
    /// refuses is reported with the vCPU and the part it belongs to. Errors start with "the
    /// device state section".
    /// </summary>
    public void LoadState(ReadOnlySpan<byte> state)
    {
        lock (_controlLock)
        {
            if (State is not (VmRunState.Created or VmRunState.Paused)) throw new InvalidOperationException("state can only be loaded into a VM that is not running");
            VmState decoded;
            try { decoded = VmState.Decode(state, _vcpus.Count, HostStateLimits.Of(_kvm)); }
            catch (InvalidDataException e) { throw new InvalidDataException($"the device state section: {e.Message}"); }

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
                part = "irqchip";
                foreach (var chip in decoded.Irqchips) _vm.SetIrqchip(chip);
                part = "pit";
                _vm.SetPit2(decoded.Pit);
                part = "kvmclock";
                _clockAtPause = decoded.Clock with { Flags = 0, Realtime = 0, HostTsc = 0 };
                _vm.SetClock(_clockAtPause);
            }
            catch (KvmException e)
            {
                throw new InvalidDataException($"the device state section: {part}: KVM refused the saved value ({e.Operation}: {e.Message})");
            }
            Serial.LoadFrom(decoded.Serial);
        }
    }
}
