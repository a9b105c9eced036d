using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ferry.Kvm;
using Ferry.Kvm.Structs;

namespace Ferry.Vmm.Cpu;

public sealed partial class Vcpu
{
    private const uint InternalErrorEmulation = 1;
    private const uint SystemEventShutdown = 1, SystemEventReset = 2, SystemEventCrash = 3;

    /// <summary>Handles one KVM exit. Returns null to keep running, or why the VM ends.</summary>
    private VmExit? HandleExit()
    {
        var reason = (KvmExitReason)_fd.RunState.ExitReason;
        switch (reason)
        {
            case KvmExitReason.Io:
                HandleIo();
                return null;
            case KvmExitReason.Mmio:
                HandleMmio();
                return null;
            case KvmExitReason.Hlt:
            case KvmExitReason.IrqWindowOpen:
            case KvmExitReason.Intr:
                return null;
            case KvmExitReason.Shutdown:
                return Died($"the guest triple-faulted (vCPU {Id}, {Where()})");
            case KvmExitReason.InternalError:
                ref var error = ref _fd.CodeAndData;
                string what = error.Code == InternalErrorEmulation ? "an instruction KVM cannot emulate" : $"KVM internal error {error.Code}";
                return Died($"the guest ran {what} (vCPU {Id}, {Where()})");
            case KvmExitReason.FailEntry:
                return Died($"KVM could not enter the guest (vCPU {Id}, reason 0x{_fd.CodeAndData.Data0:x})");
            case KvmExitReason.SystemEvent:
                return _fd.CodeAndData.Code switch
                {
                    SystemEventShutdown => new VmExit(VmExitKind.PowerOff, "the guest powered off"),
                    SystemEventReset => new VmExit(VmExitKind.Reboot, "the guest rebooted"),
                    SystemEventCrash => Died($"the guest reported a crash (vCPU {Id})"),
                    var t => Died($"unexpected system event {t} (vCPU {Id})"),
                };
            default:
                return Died($"unexpected KVM exit reason {(uint)reason} (vCPU {Id}, {Where()})");
        }
    }

    private void HandleIo()
    {
        ref var io = ref _fd.IoExit;
        var data = _fd.IoData;
        if (io.Direction == KvmRunIo.DirectionOut)
        {
            if (io.Count == 1) _ports.Write(io.Port, data);
            else _ports.WriteString(io.Port, io.Size, data);
        }
        else
        {
            if (io.Count == 1) _ports.Read(io.Port, data);
            else _ports.ReadString(io.Port, io.Size, data);
        }
    }

    /// <summary>An MMIO access: 1 to 8 bytes in kvm_run.mmio.data. Addresses no device claims read all ones.</summary>
    private void HandleMmio()
    {
        ref var mmio = ref _fd.MmioExit;
        var data = MemoryMarshal.CreateSpan(ref Unsafe.As<ulong, byte>(ref mmio.Data), (int)Math.Min(mmio.Len, 8u));
        if (mmio.IsWrite != 0) _mmio.Write(mmio.PhysAddr, data);
        else _mmio.Read(mmio.PhysAddr, data);
    }

    private static VmExit Died(string message) => new(VmExitKind.GuestDied, message);

    private string Where()
    {
        try
        {
            var regs = _fd.GetRegs();
            var sregs = _fd.GetSregs();
            return $"RIP 0x{regs.Rip:x}, CR2 0x{sregs.Cr2:x}";
        }
        catch (KvmException)
        {
            return "registers unavailable";
        }
    }
}
