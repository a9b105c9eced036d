using Ferry.Kvm.Structs;

namespace Ferry.Kvm.Tests.Abi;

/// <summary>The offsets the VMM's state checks read inside opaque kernel structs are the kernel's.</summary>
public sealed class OpaqueStateFieldTests
{
    public static TheoryData<string, string, int> Fields() => new()
    {
        { "kvm_vcpu_events", "exception.injected", VcpuEventsFields.ExceptionInjected },
        { "kvm_vcpu_events", "exception.nr", VcpuEventsFields.ExceptionNr },
        { "kvm_vcpu_events", "exception.has_error_code", VcpuEventsFields.ExceptionHasErrorCode },
        { "kvm_vcpu_events", "exception.pending", VcpuEventsFields.ExceptionPending },
        { "kvm_vcpu_events", "interrupt.injected", VcpuEventsFields.InterruptInjected },
        { "kvm_vcpu_events", "interrupt.soft", VcpuEventsFields.InterruptSoft },
        { "kvm_vcpu_events", "interrupt.shadow", VcpuEventsFields.InterruptShadow },
        { "kvm_vcpu_events", "nmi.injected", VcpuEventsFields.NmiInjected },
        { "kvm_vcpu_events", "nmi.pending", VcpuEventsFields.NmiPending },
        { "kvm_vcpu_events", "nmi.masked", VcpuEventsFields.NmiMasked },
        { "kvm_vcpu_events", "sipi_vector", VcpuEventsFields.SipiVector },
        { "kvm_vcpu_events", "flags", VcpuEventsFields.Flags },
        { "kvm_vcpu_events", "smi.smm", VcpuEventsFields.SmiSmm },
        { "kvm_vcpu_events", "smi.pending", VcpuEventsFields.SmiPending },
        { "kvm_vcpu_events", "smi.smm_inside_nmi", VcpuEventsFields.SmiInsideNmi },
        { "kvm_vcpu_events", "smi.latched_init", VcpuEventsFields.SmiLatchedInit },
        { "kvm_vcpu_events", "exception_has_payload", VcpuEventsFields.ExceptionHasPayload },
        { "kvm_xcrs", "nr_xcrs", XcrsFields.NrXcrs },
        { "kvm_xcrs", "flags", XcrsFields.Flags },
        { "kvm_xcrs", "xcrs", XcrsFields.Xcrs },
        { "kvm_xcr", "xcr", XcrsFields.XcrIndex },
        { "kvm_xcr", "value", XcrsFields.XcrValue },
        { "kvm_debugregs", "dr6", DebugregsFields.Dr6 },
        { "kvm_debugregs", "dr7", DebugregsFields.Dr7 },
        { "kvm_debugregs", "flags", DebugregsFields.Flags },
        { "kvm_irqchip", "chip_id", IrqchipFields.ChipId },
        { "kvm_pit_state2", "channels", PitState2Fields.Channels },
        { "kvm_pit_channel_state", "rw_mode", PitState2Fields.ChannelRwMode },
        { "kvm_pit_channel_state", "mode", PitState2Fields.ChannelMode },
        { "kvm_pit_channel_state", "bcd", PitState2Fields.ChannelBcd },
        { "kvm_pit_channel_state", "gate", PitState2Fields.ChannelGate },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void Offset_matches_asm_kvm_h(string cStruct, string cField, int offset) =>
        Assert.Equal(KernelAbi.Offset(cStruct, cField), offset);

    [Fact]
    public void Entry_sizes_and_limits_match()
    {
        Assert.Equal(XcrsFields.XcrSize, KernelAbi.Size("kvm_xcr"));
        Assert.Equal(PitState2Fields.ChannelSize, KernelAbi.Size("kvm_pit_channel_state"));
        Assert.Equal((ulong)XcrsFields.MaxXcrs, KernelAbi.Const("KVM_MAX_XCRS"));
    }
}
