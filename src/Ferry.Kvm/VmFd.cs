using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm;

/// <summary>A KVM VM file descriptor: memory slots, the in-kernel devices, the clock, the dirty log.</summary>
public sealed unsafe class VmFd : IDisposable
{
    private readonly KvmFd _fd;
    private readonly int _vcpuMmapSize;

    internal VmFd(KvmFd fd, int vcpuMmapSize) { _fd = fd; _vcpuMmapSize = vcpuMmapSize; }

    /// <summary>KVM_SET_USER_MEMORY_REGION: adds, changes (e.g. dirty logging on/off) or removes a slot.</summary>
    public void SetUserMemoryRegion(KvmUserspaceMemoryRegion region) =>
        Set(KvmIoctls.KVM_SET_USER_MEMORY_REGION, ref region, "KVM_SET_USER_MEMORY_REGION");

    public void SetTssAddress(ulong gpa) => Kvm.Check(LibC.Ioctl(_fd, KvmIoctls.KVM_SET_TSS_ADDR, (nuint)gpa), "KVM_SET_TSS_ADDR");

    public void SetIdentityMapAddress(ulong gpa) => Set(KvmIoctls.KVM_SET_IDENTITY_MAP_ADDR, ref gpa, "KVM_SET_IDENTITY_MAP_ADDR");

    /// <summary>KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and local APICs.</summary>
    public void CreateIrqchip() => Kvm.Check(LibC.Ioctl(_fd, KvmIoctls.KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");

    /// <summary>KVM_CREATE_PIT2: the in-kernel i8254 timer.</summary>
    public void CreatePit2()
    {
        var config = new KvmPitConfig();
        Set(KvmIoctls.KVM_CREATE_PIT2, ref config, "KVM_CREATE_PIT2");
    }

    /// <summary>KVM_IRQ_LINE: raises or lowers a GSI.</summary>
    public void SetIrqLine(uint gsi, bool high)
    {
        var level = new KvmIrqLevel { Irq = gsi, Level = high ? 1u : 0u };
        Set(KvmIoctls.KVM_IRQ_LINE, ref level, "KVM_IRQ_LINE");
    }

    /// <summary>
    /// KVM_IOEVENTFD on MMIO: a guest write of <paramref name="length"/> bytes (any value) to
    /// <paramref name="gpa"/> signals <paramref name="eventFd"/> inside KVM, and the vCPU goes on
    /// without an exit to the VMM. <paramref name="deassign"/> removes the same registration.
    /// </summary>
    public void SetIoeventfd(EventFd eventFd, ulong gpa, uint length, bool deassign = false)
    {
        bool added = false;
        try
        {
            eventFd.DangerousAddRef(ref added);
            var io = new KvmIoeventfd { Addr = gpa, Len = length, Fd = eventFd.Number, Flags = deassign ? KvmIoeventfd.FlagDeassign : 0 };
            Set(KvmIoctls.KVM_IOEVENTFD, ref io, "KVM_IOEVENTFD");
        }
        finally { if (added) eventFd.DangerousRelease(); }
    }

    /// <summary>KVM_IRQFD: a write to <paramref name="eventFd"/> raises <paramref name="gsi"/> inside KVM (edge). <paramref name="deassign"/> removes it.</summary>
    public void SetIrqfd(EventFd eventFd, uint gsi, bool deassign = false)
    {
        bool added = false;
        try
        {
            eventFd.DangerousAddRef(ref added);
            var irq = new KvmIrqfd { Fd = (uint)eventFd.Number, Gsi = gsi, Flags = deassign ? KvmIrqfd.FlagDeassign : 0 };
            Set(KvmIoctls.KVM_IRQFD, ref irq, "KVM_IRQFD");
        }
        finally { if (added) eventFd.DangerousRelease(); }
    }

    public KvmClockData GetClock() => Get<KvmClockData>(KvmIoctls.KVM_GET_CLOCK, "KVM_GET_CLOCK");

    public void SetClock(KvmClockData clock) => Set(KvmIoctls.KVM_SET_CLOCK, ref clock, "KVM_SET_CLOCK");

    /// <summary>KVM_GET_IRQCHIP: chip 0 = master PIC, 1 = slave PIC, 2 = IOAPIC.</summary>
    public KvmIrqchip GetIrqchip(uint chipId)
    {
        var chip = new KvmIrqchip();
        MemoryMarshal.Write(chip, chipId);
        Set(KvmIoctls.KVM_GET_IRQCHIP, ref chip, "KVM_GET_IRQCHIP");
        return chip;
    }

    public void SetIrqchip(KvmIrqchip chip) => Set(KvmIoctls.KVM_SET_IRQCHIP, ref chip, "KVM_SET_IRQCHIP");

    public KvmPitState2 GetPit2() => Get<KvmPitState2>(KvmIoctls.KVM_GET_PIT2, "KVM_GET_PIT2");

    public void SetPit2(KvmPitState2 pit) => Set(KvmIoctls.KVM_SET_PIT2, ref pit, "KVM_SET_PIT2");

    /// <summary>KVM_ENABLE_CAP on the VM.</summary>
    public void EnableCap(KvmCapability capability, ulong arg0)
    {
        var cap = new KvmEnableCap { Cap = (uint)capability, Arg0 = arg0 };
        Set(KvmIoctls.KVM_ENABLE_CAP, ref cap, "KVM_ENABLE_CAP");
    }

    /// <summary>KVM_GET_DIRTY_LOG: fills <paramref name="bitmap"/> (one bit per page of the slot).</summary>
    public void GetDirtyLog(uint slot, Span<ulong> bitmap)
    {
        fixed (ulong* p = bitmap)
        {
            var log = new KvmDirtyLog { Slot = slot, DirtyBitmap = (ulong)p };
            Set(KvmIoctls.KVM_GET_DIRTY_LOG, ref log, "KVM_GET_DIRTY_LOG");
        }
    }

    /// <summary>KVM_CLEAR_DIRTY_LOG: write-protects again the pages set in <paramref name="bitmap"/>, from <paramref name="firstPage"/> (a multiple of 64).</summary>
    public void ClearDirtyLog(uint slot, ulong firstPage, uint pageCount, ReadOnlySpan<ulong> bitmap)
    {
        fixed (ulong* p = bitmap)
        {
            var clear = new KvmClearDirtyLog { Slot = slot, FirstPage = firstPage, NumPages = pageCount, DirtyBitmap = (ulong)p };
            Set(KvmIoctls.KVM_CLEAR_DIRTY_LOG, ref clear, "KVM_CLEAR_DIRTY_LOG");
        }
    }

    /// <summary>KVM_CREATE_VCPU, with its kvm_run area mapped.</summary>
    public VcpuFd CreateVcpu(int id)
    {
        int fd = LibC.Ioctl(_fd, KvmIoctls.KVM_CREATE_VCPU, (nuint)id);
        if (fd < 0) throw new KvmException($"KVM_CREATE_VCPU {id}", Marshal.GetLastPInvokeError());
        return new VcpuFd(new KvmFd(fd), id, _vcpuMmapSize);
    }

    public void Dispose() => _fd.Dispose();

    private T Get<T>(nuint request, string name) where T : unmanaged => StructIoctl.Get<T>(_fd, request, name);

    private void Set<T>(nuint request, ref T value, string name) where T : unmanaged => StructIoctl.Call(_fd, request, ref value, name);
}
