using Ferry.Kvm.Structs;

using Ferry.Tests.Shared;

namespace Ferry.Kvm.Tests;

public sealed class KvmSystemTests
{
    [KvmFact]
    public void Supported_cpuid_includes_the_kvm_signature_leaf()
    {
        using var kvm = Kvm.Open();
        var cpuid = kvm.GetSupportedCpuid();
        Assert.Contains(cpuid, e => e.Function == 0x40000000);
        Assert.Contains(cpuid, e => e.Function == 1);
    }

    [KvmFact]
    public void Msr_index_list_includes_the_tsc()
    {
        using var kvm = Kvm.Open();
        Assert.Contains(0x10u, kvm.GetMsrIndexList());
    }

    [KvmFact]
    public void Guest_write_appears_in_dirty_log_and_is_cleared_by_reading_it()
    {
        // A 16-bit real-mode guest: mov byte [0x3000], 1; hlt. The write must show as page 3 dirty.
        using var kvm = Kvm.Open();
        using var vm = kvm.CreateVm();
        using var memory = HostMemory.MapAnonymous(1 << 20);
        vm.SetUserMemoryRegion(new KvmUserspaceMemoryRegion
        {
            Slot = 0, Flags = KvmUserspaceMemoryRegion.LogDirtyPages, GuestPhysAddr = 0, MemorySize = 1 << 20, UserspaceAddr = (ulong)memory.Address,
        });
        byte[] code = [0xc6, 0x06, 0x00, 0x30, 0x01, 0xf4]; // mov byte [0x3000], 1 ; hlt
        code.CopyTo(memory.Slice(0x1000, code.Length));
        using var vcpu = vm.CreateVcpu(0);
        var sregs = vcpu.GetSregs();
        sregs.Cs.Base = 0;
        sregs.Cs.Selector = 0;
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = 0x1000, Rflags = 2 });
        var bitmap = new ulong[(1 << 20) / 4096 / 64];
        vm.GetDirtyLog(0, bitmap); // clear what loading the code did (nothing: host writes are not logged)

        Assert.Equal(RunResult.Exit, vcpu.Run());
        Assert.Equal(KvmExitReason.Hlt, (KvmExitReason)vcpu.RunState.ExitReason);
        Assert.Equal(1, memory.Slice(0x3000, 1)[0]);
        vm.GetDirtyLog(0, bitmap);
        Assert.True((bitmap[0] & (1UL << 3)) != 0, $"page 3 not dirty: bitmap {bitmap[0]:x}");
        vm.GetDirtyLog(0, bitmap);
        Assert.Equal(0UL, bitmap[0] & (1UL << 3));
    }

    [KvmFact]
    public void A_guest_write_to_an_ioeventfd_address_signals_it_without_an_exit()
    {
        // Real mode: mov ax, 0x9000; mov ds, ax; mov dword [0x50], 1; hlt. 0x90050 is not RAM.
        using var kvm = Kvm.Open();
        using var vm = kvm.CreateVm();
        using var memory = HostMemory.MapAnonymous(512 << 10);
        vm.SetUserMemoryRegion(new KvmUserspaceMemoryRegion { Slot = 0, GuestPhysAddr = 0, MemorySize = 512 << 10, UserspaceAddr = (ulong)memory.Address });
        byte[] code = [0xb8, 0x00, 0x90, 0x8e, 0xd8, 0x66, 0xc7, 0x06, 0x50, 0x00, 0x01, 0x00, 0x00, 0x00, 0xf4];
        code.CopyTo(memory.Slice(0x1000, code.Length));
        using var notify = new EventFd();
        vm.SetIoeventfd(notify, 0x90050, 4);
        using var vcpu = vm.CreateVcpu(0);
        var sregs = vcpu.GetSregs();
        sregs.Cs.Base = 0;
        sregs.Cs.Selector = 0;
        vcpu.SetSregs(sregs);
        vcpu.SetRegs(new KvmRegs { Rip = 0x1000, Rflags = 2 });

        Assert.Equal(RunResult.Exit, vcpu.Run());
        Assert.Equal(KvmExitReason.Hlt, (KvmExitReason)vcpu.RunState.ExitReason);
        Assert.Equal(1UL, notify.Wait());
        vm.SetIoeventfd(notify, 0x90050, 4, deassign: true);
    }

    [KvmFact]
    public void An_irqfd_can_be_attached_to_an_ioapic_pin_and_removed()
    {
        using var kvm = Kvm.Open();
        using var vm = kvm.CreateVm();
        vm.CreateIrqchip();
        using var irq = new EventFd();
        vm.SetIrqfd(irq, 16);
        irq.Signal(); // KVM consumes it and pulses GSI 16
        vm.SetIrqfd(irq, 16, deassign: true);
    }

    [KvmFact]
    public void Resident_pages_are_only_those_touched()
    {
        using var memory = HostMemory.MapAnonymous(64 << 20);
        memory.Slice(5 * 4096, 1)[0] = 7;
        var resident = new byte[(64 << 20) / 4096];
        memory.GetResidentPages(0, 64 << 20, resident);
        Assert.Equal(1, resident[5] & 1);
        Assert.True(resident.Count(b => (b & 1) != 0) < 600, "an untouched anonymous mapping should be mostly non-resident");
    }
}
