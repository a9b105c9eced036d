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
    private const ulong StateMagic = 0x5441_5453_5952_5246; // "FRRYSTAT"
    private const uint StateVersion = 1;

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
            w.U64(StateMagic);
            w.U32(StateVersion);
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

    /// <summary>Loads SaveState's output into this VM, which must not have started yet (or be paused).</summary>
    public void LoadState(ReadOnlySpan<byte> state)
    {
        lock (_controlLock)
        {
            if (State is not (VmRunState.Created or VmRunState.Paused)) throw new InvalidOperationException("state can only be loaded into a VM that is not running");
            var r = new StateReader(state);
            if (r.U64("magic") != StateMagic) throw new InvalidDataException("not Ferry VM state (bad magic)");
            uint version = r.U32("version");
            if (version != StateVersion) throw new InvalidDataException($"VM state version {version} is not supported ({StateVersion})");
            uint xsaveSize = r.U32("xsave size");
            int hostXsaveSize = Math.Max(_kvm.CheckExtension(KvmCapability.Xsave2), 4096);
            if (xsaveSize > hostXsaveSize)
                throw new VmConfigException($"the guest's XSAVE area is {xsaveSize} bytes; this host's KVM offers only {hostXsaveSize} (its CPU lacks state the guest uses)");
            uint vcpus = r.U32("vCPU count");
            if (vcpus != _vcpus.Count) throw new InvalidDataException($"VM state has {vcpus} vCPUs, this VM {_vcpus.Count}");
            var vcpuStates = new VcpuState[vcpus];
            var cpuids = new KvmCpuidEntry2[vcpus][];
            var hostCpuid = _kvm.GetSupportedCpuid();
            for (int i = 0; i < vcpus; i++)
            {
                uint entries = r.U32("cpuid count");
                if (entries > 1024) throw new InvalidDataException($"cpuid count {entries} is implausible");
                cpuids[i] = new KvmCpuidEntry2[entries];
                for (int e = 0; e < entries; e++) cpuids[i][e] = r.Struct<KvmCpuidEntry2>("cpuid entry");
                var missing = CpuFeatureCheck.Missing(cpuids[i], hostCpuid);
                if (missing.Count > 0)
                    throw new VmConfigException($"this host's CPU lacks features the guest was given: {string.Join(", ", missing)}");
                vcpuStates[i] = VcpuState.Read(ref r);
            }
            var chips = new KvmIrqchip[3];
            for (int i = 0; i < 3; i++) chips[i] = r.Struct<KvmIrqchip>("irqchip");
            var pit = r.Struct<KvmPitState2>("pit");
            var clock = r.Struct<KvmClockData>("kvmclock");
            uint serialVersion = r.U32("serial version");
            if (serialVersion != SerialState.Version)
                throw new InvalidDataException($"device serial0: state version {serialVersion} is not supported ({SerialState.Version})");
            var serial = new SerialState((byte)r.U32("serial ier"), (byte)r.U32("serial lcr"), (byte)r.U32("serial mcr"),
                (byte)r.U32("serial scratch"), (ushort)r.U32("serial divisor"), r.U32("serial thre") != 0, r.Blob("serial input").ToArray());
            if (!r.AtEnd) throw new InvalidDataException("VM state has trailing bytes");

            // Everything parsed: only now change the VM.
            for (int i = 0; i < vcpus; i++)
            {
                _vcpus[i].Fd.SetCpuid(cpuids[i]);
                _cpuid[i] = cpuids[i];
                vcpuStates[i].Apply(_vcpus[i].Fd);
            }
            foreach (var chip in chips) _vm.SetIrqchip(chip);
            _vm.SetPit2(pit);
            _clockAtPause = clock with { Flags = 0, Realtime = 0, HostTsc = 0 };
            _vm.SetClock(_clockAtPause);
            Serial.LoadFrom(serial);
        }
    }
}
