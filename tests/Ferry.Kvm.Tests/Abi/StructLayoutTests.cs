using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm.Tests.Abi;

public sealed class StructLayoutTests
{
    public static TheoryData<string, Type> Structs => new()
    {
        { "kvm_regs", typeof(KvmRegs) },
        { "kvm_segment", typeof(KvmSegment) },
        { "kvm_dtable", typeof(KvmDtable) },
        { "kvm_sregs", typeof(KvmSregs) },
        { "kvm_msr_entry", typeof(KvmMsrEntry) },
        { "kvm_cpuid_entry2", typeof(KvmCpuidEntry2) },
        { "kvm_userspace_memory_region", typeof(KvmUserspaceMemoryRegion) },
        { "kvm_clock_data", typeof(KvmClockData) },
        { "kvm_dirty_log", typeof(KvmDirtyLog) },
        { "kvm_clear_dirty_log", typeof(KvmClearDirtyLog) },
        { "kvm_irq_level", typeof(KvmIrqLevel) },
        { "kvm_pit_config", typeof(KvmPitConfig) },
        { "kvm_enable_cap", typeof(KvmEnableCap) },
        { "kvm_lapic_state", typeof(KvmLapicState) },
        { "kvm_xsave", typeof(KvmXsave) },
        { "kvm_vcpu_events", typeof(KvmVcpuEvents) },
        { "kvm_irqchip", typeof(KvmIrqchip) },
        { "kvm_pit_state2", typeof(KvmPitState2) },
        { "kvm_debugregs", typeof(KvmDebugregs) },
        { "kvm_xcrs", typeof(KvmXcrs) },
        { "kvm_fpu", typeof(KvmFpu) },
        { "kvm_ioeventfd", typeof(KvmIoeventfd) },
        { "kvm_irqfd", typeof(KvmIrqfd) },
    };

    [Theory]
    [MemberData(nameof(Structs))]
    public void Struct_size_matches_linux_kvm_h(string cName, Type type)
    {
        int size = (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
        Assert.Equal(KernelAbi.Size(cName), size);
    }

    public static TheoryData<string, string, Type, string> Fields => new()
    {
        { "kvm_regs", "rax", typeof(KvmRegs), nameof(KvmRegs.Rax) },
        { "kvm_regs", "r8", typeof(KvmRegs), nameof(KvmRegs.R8) },
        { "kvm_regs", "rip", typeof(KvmRegs), nameof(KvmRegs.Rip) },
        { "kvm_regs", "rflags", typeof(KvmRegs), nameof(KvmRegs.Rflags) },
        { "kvm_segment", "limit", typeof(KvmSegment), nameof(KvmSegment.Limit) },
        { "kvm_segment", "selector", typeof(KvmSegment), nameof(KvmSegment.Selector) },
        { "kvm_segment", "type", typeof(KvmSegment), nameof(KvmSegment.Type) },
        { "kvm_segment", "present", typeof(KvmSegment), nameof(KvmSegment.Present) },
        { "kvm_segment", "dpl", typeof(KvmSegment), nameof(KvmSegment.Dpl) },
        { "kvm_segment", "db", typeof(KvmSegment), nameof(KvmSegment.Db) },
        { "kvm_segment", "s", typeof(KvmSegment), nameof(KvmSegment.S) },
        { "kvm_segment", "l", typeof(KvmSegment), nameof(KvmSegment.L) },
        { "kvm_segment", "g", typeof(KvmSegment), nameof(KvmSegment.G) },
        { "kvm_segment", "avl", typeof(KvmSegment), nameof(KvmSegment.Avl) },
        { "kvm_segment", "unusable", typeof(KvmSegment), nameof(KvmSegment.Unusable) },
        { "kvm_dtable", "limit", typeof(KvmDtable), nameof(KvmDtable.Limit) },
        { "kvm_sregs", "tr", typeof(KvmSregs), nameof(KvmSregs.Tr) },
        { "kvm_sregs", "ldt", typeof(KvmSregs), nameof(KvmSregs.Ldt) },
        { "kvm_sregs", "gdt", typeof(KvmSregs), nameof(KvmSregs.Gdt) },
        { "kvm_sregs", "idt", typeof(KvmSregs), nameof(KvmSregs.Idt) },
        { "kvm_sregs", "cr0", typeof(KvmSregs), nameof(KvmSregs.Cr0) },
        { "kvm_sregs", "cr3", typeof(KvmSregs), nameof(KvmSregs.Cr3) },
        { "kvm_sregs", "efer", typeof(KvmSregs), nameof(KvmSregs.Efer) },
        { "kvm_sregs", "apic_base", typeof(KvmSregs), nameof(KvmSregs.ApicBase) },
        { "kvm_sregs", "interrupt_bitmap", typeof(KvmSregs), nameof(KvmSregs.InterruptBitmap) },
        { "kvm_msr_entry", "data", typeof(KvmMsrEntry), nameof(KvmMsrEntry.Data) },
        { "kvm_cpuid_entry2", "flags", typeof(KvmCpuidEntry2), nameof(KvmCpuidEntry2.Flags) },
        { "kvm_cpuid_entry2", "eax", typeof(KvmCpuidEntry2), nameof(KvmCpuidEntry2.Eax) },
        { "kvm_cpuid_entry2", "edx", typeof(KvmCpuidEntry2), nameof(KvmCpuidEntry2.Edx) },
        { "kvm_userspace_memory_region", "flags", typeof(KvmUserspaceMemoryRegion), nameof(KvmUserspaceMemoryRegion.Flags) },
        { "kvm_userspace_memory_region", "guest_phys_addr", typeof(KvmUserspaceMemoryRegion), nameof(KvmUserspaceMemoryRegion.GuestPhysAddr) },
        { "kvm_userspace_memory_region", "memory_size", typeof(KvmUserspaceMemoryRegion), nameof(KvmUserspaceMemoryRegion.MemorySize) },
        { "kvm_userspace_memory_region", "userspace_addr", typeof(KvmUserspaceMemoryRegion), nameof(KvmUserspaceMemoryRegion.UserspaceAddr) },
        { "kvm_clock_data", "flags", typeof(KvmClockData), nameof(KvmClockData.Flags) },
        { "kvm_clock_data", "realtime", typeof(KvmClockData), nameof(KvmClockData.Realtime) },
        { "kvm_clock_data", "host_tsc", typeof(KvmClockData), nameof(KvmClockData.HostTsc) },
        { "kvm_dirty_log", "dirty_bitmap", typeof(KvmDirtyLog), nameof(KvmDirtyLog.DirtyBitmap) },
        { "kvm_clear_dirty_log", "num_pages", typeof(KvmClearDirtyLog), nameof(KvmClearDirtyLog.NumPages) },
        { "kvm_clear_dirty_log", "first_page", typeof(KvmClearDirtyLog), nameof(KvmClearDirtyLog.FirstPage) },
        { "kvm_clear_dirty_log", "dirty_bitmap", typeof(KvmClearDirtyLog), nameof(KvmClearDirtyLog.DirtyBitmap) },
        { "kvm_irq_level", "level", typeof(KvmIrqLevel), nameof(KvmIrqLevel.Level) },
        { "kvm_enable_cap", "args", typeof(KvmEnableCap), nameof(KvmEnableCap.Arg0) },
        { "kvm_ioeventfd", "datamatch", typeof(KvmIoeventfd), nameof(KvmIoeventfd.Datamatch) },
        { "kvm_ioeventfd", "addr", typeof(KvmIoeventfd), nameof(KvmIoeventfd.Addr) },
        { "kvm_ioeventfd", "len", typeof(KvmIoeventfd), nameof(KvmIoeventfd.Len) },
        { "kvm_ioeventfd", "fd", typeof(KvmIoeventfd), nameof(KvmIoeventfd.Fd) },
        { "kvm_ioeventfd", "flags", typeof(KvmIoeventfd), nameof(KvmIoeventfd.Flags) },
        { "kvm_ioeventfd", "pad", typeof(KvmIoeventfd), nameof(KvmIoeventfd.Pad) },
        { "kvm_irqfd", "fd", typeof(KvmIrqfd), nameof(KvmIrqfd.Fd) },
        { "kvm_irqfd", "gsi", typeof(KvmIrqfd), nameof(KvmIrqfd.Gsi) },
        { "kvm_irqfd", "flags", typeof(KvmIrqfd), nameof(KvmIrqfd.Flags) },
        { "kvm_irqfd", "resamplefd", typeof(KvmIrqfd), nameof(KvmIrqfd.Resamplefd) },
        { "kvm_irqfd", "pad", typeof(KvmIrqfd), nameof(KvmIrqfd.Pad) },
        { "kvm_run", "immediate_exit", typeof(KvmRun), nameof(KvmRun.ImmediateExit) },
        { "kvm_run", "exit_reason", typeof(KvmRun), nameof(KvmRun.ExitReason) },
        { "kvm_run", "ready_for_interrupt_injection", typeof(KvmRun), nameof(KvmRun.ReadyForInterruptInjection) },
        { "kvm_run", "if_flag", typeof(KvmRun), nameof(KvmRun.IfFlag) },
        { "kvm_run", "flags", typeof(KvmRun), nameof(KvmRun.Flags) },
        { "kvm_run", "cr8", typeof(KvmRun), nameof(KvmRun.Cr8) },
        { "kvm_run", "apic_base", typeof(KvmRun), nameof(KvmRun.ApicBase) },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void Field_offset_matches_linux_kvm_h(string cStruct, string cField, Type type, string field) =>
        Assert.Equal(KernelAbi.Offset(cStruct, cField), (int)Marshal.OffsetOf(type, field));

    private const int ExitUnion = 32;

    [Fact]
    public void Kvm_run_exit_union_starts_where_the_overlays_assume() =>
        Assert.Equal(ExitUnion, KernelAbi.Offset("kvm_run", "io"));

    public static TheoryData<string, Type, string> UnionFields => new()
    {
        { "io.direction", typeof(KvmRunIo), nameof(KvmRunIo.Direction) },
        { "io.size", typeof(KvmRunIo), nameof(KvmRunIo.Size) },
        { "io.port", typeof(KvmRunIo), nameof(KvmRunIo.Port) },
        { "io.count", typeof(KvmRunIo), nameof(KvmRunIo.Count) },
        { "io.data_offset", typeof(KvmRunIo), nameof(KvmRunIo.DataOffset) },
        { "mmio.phys_addr", typeof(KvmRunMmio), nameof(KvmRunMmio.PhysAddr) },
        { "mmio.data", typeof(KvmRunMmio), nameof(KvmRunMmio.Data) },
        { "mmio.len", typeof(KvmRunMmio), nameof(KvmRunMmio.Len) },
        { "mmio.is_write", typeof(KvmRunMmio), nameof(KvmRunMmio.IsWrite) },
        { "internal.suberror", typeof(KvmRunCodeAndData), nameof(KvmRunCodeAndData.Code) },
        { "internal.ndata", typeof(KvmRunCodeAndData), nameof(KvmRunCodeAndData.Ndata) },
        { "internal.data", typeof(KvmRunCodeAndData), nameof(KvmRunCodeAndData.Data0) },
        { "system_event.type", typeof(KvmRunCodeAndData), nameof(KvmRunCodeAndData.Code) },
        { "system_event.ndata", typeof(KvmRunCodeAndData), nameof(KvmRunCodeAndData.Ndata) },
        { "system_event.data", typeof(KvmRunCodeAndData), nameof(KvmRunCodeAndData.Data0) },
    };

    [Theory]
    [MemberData(nameof(UnionFields))]
    public void Kvm_run_exit_fields_match_linux_kvm_h(string cField, Type type, string field) =>
        Assert.Equal(KernelAbi.Offset("kvm_run", cField), ExitUnion + (int)Marshal.OffsetOf(type, field));
}
