using Ferry.Kvm;
using Ferry.Kvm.Structs;
using Ferry.Migration.Vm;
using Ferry.Vmm.Acpi;
using Ferry.Vmm.Boot;
using Ferry.Vmm.Cpu;
using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Power;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm;

/// <summary>The state of a VM as the control API reports it.</summary>
public enum VmRunState { Created, Running, Paused, Stopped }

/// <summary>
/// A VM on KVM: guest memory, vCPUs, the in-kernel interrupt controllers and PIT, and Ferry's
/// devices. One per process. Created paused-at-reset by <see cref="Create"/>, started by
/// <see cref="Start"/>; <see cref="Exited"/> completes when the guest or the API ends it.
/// </summary>
public sealed partial class KvmVm : IDisposable
{
    private const ulong TssAddress = 0xfffbd000;
    private readonly Kvm.Kvm _kvm;
    private readonly VmFd _vm;
    private readonly GuestMemory _memory;
    private readonly List<Vcpu> _vcpus = [];
    private readonly List<KvmCpuidEntry2[]> _cpuid = [];
    private readonly ExecutionGate _gate;
    private readonly VcpuThrottle _throttle;
    private readonly PortBus _ports = new();
    private readonly IIrqLine _serialIrq;
    private readonly Action<ReadOnlySpan<byte>> _consoleOutput;
    // Replaced by LoadState with the UART restored from the saved state; the console-input
    // thread reads it without a lock.
    private volatile Devices.Serial.Serial _serial;
    private readonly TaskCompletionSource<VmExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _stateLock = new();
    private KvmClockData _clockAtPause;
    private VmRunState _state = VmRunState.Created;

    private KvmVm(VmConfig config, Kvm.Kvm kvm, VmFd vm, GuestMemory memory, Action<ReadOnlySpan<byte>> consoleOutput)
    {
        Config = config;
        _kvm = kvm;
        _vm = vm;
        _memory = memory;
        _gate = new ExecutionGate();
        _throttle = new VcpuThrottle(KickAll);
        _serialIrq = new GsiLine(vm, Devices.Serial.Serial.Com1Gsi);
        _consoleOutput = consoleOutput;
        _serial = new Devices.Serial.Serial(_serialIrq, consoleOutput);
        _ports.Add(Devices.Serial.Serial.Com1, 8, _serial);
        var power = new AcpiPowerManagement(OnPowerEvent);
        _ports.Add(AcpiPlatform.Pm1aEventBlock, 6, power);
        _ports.Add(AcpiPlatform.ResetPort, 1, power);
        var i8042 = new I8042(OnPowerEvent);
        _ports.Add(I8042.DataPort, 1, i8042);
        _ports.Add(I8042.CommandPort, 1, i8042);
    }

    public VmConfig Config { get; }

    /// <summary>What an image's Configuration section carries: enough to create a matching empty VM.</summary>
    public ReadOnlyMemory<byte> Configuration => VmConfigJson.Encode(Config);
    /// <summary>The UART at COM1: after LoadState, the one restored from the saved state.</summary>
    public Devices.Serial.Serial Serial => _serial;
    public GuestMemory Memory => _memory;
    public Task<VmExit> Exited => _exited.Task;
    public DateTimeOffset StartedAt { get; private set; }

    public VmRunState State { get { lock (_stateLock) return _state; } }

    /// <summary>Builds the whole VM and loads the kernel; nothing runs until Start. Throws VmConfigException for bad input.</summary>
    public static KvmVm Create(VmConfig config, Action<ReadOnlySpan<byte>> consoleOutput)
    {
        config.Validate(VmConfig.HostMemoryBytes());
        byte[] kernel = ReadInput(config.KernelPath, "kernel");
        using var initrd = config.InitrdPath is null ? null : InitrdFile.Open(config.InitrdPath);
        return Build(config, consoleOutput, vm =>
        {
            vm.AttachDisks(lockNow: true);
            vm.AttachNets(openNow: true);
            vm.LoadGuest(kernel, initrd);
        });
    }

    /// <summary>
    /// Builds an empty VM of the given configuration for a snapshot or a migration to fill:
    /// memory, devices and vCPUs exist, no kernel is loaded. LoadState and guest RAM follow.
    /// </summary>
    public static KvmVm CreateForRestore(VmConfig config, Action<ReadOnlySpan<byte>> consoleOutput)
    {
        config.ValidateShape(VmConfig.HostMemoryBytes());
        return Build(config, consoleOutput, vm =>
        {
            vm.AttachDisks(lockNow: false);
            vm.AttachNets(openNow: false);
            vm.CreateVcpus();
        });
    }

    private static KvmVm Build(VmConfig config, Action<ReadOnlySpan<byte>> consoleOutput, Action<KvmVm> load)
    {
        var map = new GuestMemoryMap(config.MemoryBytes);
        var kvm = Kvm.Kvm.Open();
        VmFd? vmFd = null;
        GuestMemory? memory = null;
        KvmVm? vm = null;
        try
        {
            int maxVcpus = kvm.CheckExtension(KvmCapability.MaxVcpus);
            if (maxVcpus > 0 && config.CpuCount > maxVcpus)
                throw new VmConfigException($"--cpus {config.CpuCount} is more than this host's KVM supports ({maxVcpus})");
            vmFd = kvm.CreateVm();
            vmFd.SetTssAddress(TssAddress);
            vmFd.CreateIrqchip();
            vmFd.CreatePit2();
            memory = new GuestMemory(map);
            // KVM builds per-page tracking for a new slot (~6 ms per GiB here); loading the kernel
            // and creating vCPUs need no slot, so that work overlaps it.
            var slots = memory;
            var fd = vmFd;
            var registering = Task.Run(() => slots.RegisterSlots(fd, logDirtyPages: false));
            vm = new KvmVm(config, kvm, vmFd, memory, consoleOutput);
            try { load(vm); }
            finally { registering.GetAwaiter().GetResult(); }
            return vm;
        }
        catch
        {
            if (vm is not null) vm.Dispose();
            else
            {
                memory?.Dispose();
                vmFd?.Dispose();
                kvm.Dispose();
            }
            throw;
        }
    }

    private static byte[] ReadInput(string path, string what)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VmConfigException($"cannot read {what} {path}: {e.Message}");
        }
    }

    private void LoadGuest(byte[] kernel, InitrdFile? initrd)
    {
        var acpi = AcpiTables.Build(BootLayout.AcpiStart, Config.CpuCount, Config.VirtioDeviceCount);
        _memory.Write(BootLayout.AcpiStart, acpi);
        var loaded = KernelLoader.Load(_memory, kernel, Path.GetFileName(Config.KernelPath), initrd, Config.BootCommandLine(), BootLayout.AcpiStart);

        CreateVcpus();
        var boot = _vcpus[0].Fd;
        var (regs, sregs) = loaded.Format == KernelFormat.PvhElf
            ? BootCpuState.Pvh(boot.GetSregs(), (uint)loaded.Entry)
            : BootCpuState.Linux64(boot.GetSregs(), loaded.Entry);
        boot.SetSregs(sregs);
        boot.SetRegs(regs);
    }

    /// <summary>Creates every vCPU with its CPUID, boot MSRs and local APIC set-up, as at power-on.</summary>
    private void CreateVcpus()
    {
        var supported = _kvm.GetSupportedCpuid();
        for (int id = 0; id < Config.CpuCount; id++)
        {
            var fd = _vm.CreateVcpu(id);
            var vcpu = new Vcpu(fd, _gate, _ports, _mmio, _throttle, OnVcpuExit);
            _vcpus.Add(vcpu);
            var cpuid = CpuidFilter.ForVcpu(supported, id, Config.CpuCount);
            fd.SetCpuid(cpuid);
            _cpuid.Add(cpuid);
            fd.SetMsrs([
                new KvmMsrEntry(MsrIndex.Ia32MiscEnable, MsrIndex.MiscEnableFastStrings),
                new KvmMsrEntry(MsrIndex.MtrrDefType, MsrIndex.MtrrEnableWriteBack),
            ]);
            fd.SetLapic(LapicSetup.WithLegacyInterruptLines(fd.GetLapic()));
        }
    }

    /// <summary>Starts every vCPU thread. The boot vCPU runs at once; the others wait for INIT/SIPI from the guest.</summary>
    public void Start(bool paused = false)
    {
        VcpuKick.InstallIgnore();
        lock (_stateLock)
        {
            if (_state != VmRunState.Created) throw new InvalidOperationException("the VM was already started");
            _state = paused ? VmRunState.Paused : VmRunState.Running;
        }
        // A VM started paused parks every vCPU before its first guest instruction; Resume sets
        // kvmclock from _clockAtPause (what LoadState restored) and lets them go.
        if (paused) _gate.Pause(() => { }, () => 0);
        StartedAt = DateTimeOffset.UtcNow;
        // Devices are created held; a VM started paused keeps them so until Resume.
        if (!paused) ReleaseDevices();
        foreach (var vcpu in _vcpus) vcpu.Start();
    }

    private void OnPowerEvent(PowerEvent e) =>
        End(e == PowerEvent.PowerOff ? new VmExit(VmExitKind.PowerOff, "the guest powered off") : new VmExit(VmExitKind.Reboot, "the guest rebooted"));

    private void OnVcpuExit(VmExit exit) => End(exit);

    /// <summary>Ends the VM once: the first reason wins, every vCPU is stopped.</summary>
    public void End(VmExit exit)
    {
        lock (_stateLock)
        {
            if (_state == VmRunState.Stopped) return;
            _state = VmRunState.Stopped;
        }
        _throttle.Dispose();
        _gate.Stop(KickAll);
        ReleaseMissingPages();
        _exited.TrySetResult(exit);
    }

    private void KickAll()
    {
        foreach (var vcpu in _vcpus) vcpu.Kick();
    }

    public void Dispose()
    {
        End(new VmExit(VmExitKind.Stopped, "the VM was disposed"));
        foreach (var vcpu in _vcpus)
        {
            vcpu.Join();
            vcpu.Dispose();
        }
        // The I/O threads touch guest RAM: they end before it is unmapped.
        DisposeDevices();
        _vm.Dispose();
        _memory.Dispose();
        _kvm.Dispose();
    }

    /// <summary>A GSI of the in-kernel IOAPIC/PIC.</summary>
    private sealed class GsiLine(VmFd vm, uint gsi) : IIrqLine
    {
        public void Pulse()
        {
            vm.SetIrqLine(gsi, true);
            vm.SetIrqLine(gsi, false);
        }
    }
}
