namespace Ferry.Kvm.Structs;

// Where the fields the VMM checks sit inside the state it otherwise saves whole (asm/kvm.h).
// A saved state from a peer or a file is checked field by field before KVM sees it; the
// offsets are compared with the kernel's by tests/Ferry.Kvm.Tests/Abi.

/// <summary>Fields of struct kvm_vcpu_events.</summary>
public static class VcpuEventsFields
{
    public const int ExceptionInjected = 0, ExceptionNr = 1, ExceptionHasErrorCode = 2, ExceptionPending = 3;
    public const int InterruptInjected = 8, InterruptSoft = 10, InterruptShadow = 11;
    public const int NmiInjected = 12, NmiPending = 13, NmiMasked = 14;
    public const int SipiVector = 16, Flags = 20;
    public const int SmiSmm = 24, SmiPending = 25, SmiInsideNmi = 26, SmiLatchedInit = 27;
    public const int ExceptionHasPayload = 55;

    /// <summary>KVM_VCPUEVENT_VALID_*: NMI_PENDING, SIPI_VECTOR, SHADOW, SMM, PAYLOAD, TRIPLE_FAULT.</summary>
    public const uint KnownFlags = 0x3f;
}

/// <summary>Fields of struct kvm_xcrs and its struct kvm_xcr entries.</summary>
public static class XcrsFields
{
    public const int NrXcrs = 0, Flags = 4, Xcrs = 8, XcrSize = 16, XcrIndex = 0, XcrValue = 8;
    /// <summary>KVM_MAX_XCRS.</summary>
    public const int MaxXcrs = 16;
}

/// <summary>Fields of struct kvm_debugregs.</summary>
public static class DebugregsFields
{
    public const int Dr6 = 32, Dr7 = 40, Flags = 48;
}

/// <summary>Fields of struct kvm_irqchip.</summary>
public static class IrqchipFields
{
    public const int ChipId = 0;
}

/// <summary>Fields of struct kvm_pit_state2 and its struct kvm_pit_channel_state entries.</summary>
public static class PitState2Fields
{
    public const int Channels = 0, ChannelSize = 24, ChannelRwMode = 12, ChannelMode = 13, ChannelBcd = 14, ChannelGate = 15;
}
