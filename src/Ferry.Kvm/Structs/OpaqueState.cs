using System.Runtime.CompilerServices;

namespace Ferry.Kvm.Structs;

// State the VMM saves and restores whole without looking inside: each is the exact size of
// its kernel struct, and tests check those sizes against linux/kvm.h.

/// <summary>struct kvm_lapic_state: the local APIC's register page.</summary>
[InlineArray(1024)] public struct KvmLapicState { private byte _element0; }

/// <summary>struct kvm_xsave: the legacy 4 KiB XSAVE area (KVM_GET_XSAVE2 may need more, see Kvm.XsaveSize).</summary>
[InlineArray(4096)] public struct KvmXsave { private byte _element0; }

/// <summary>struct kvm_vcpu_events: pending exceptions, interrupts, NMIs and SMIs.</summary>
[InlineArray(64)] public struct KvmVcpuEvents { private byte _element0; }

/// <summary>struct kvm_irqchip: one of the in-kernel PICs or the IOAPIC.</summary>
[InlineArray(520)] public struct KvmIrqchip { private byte _element0; }

/// <summary>struct kvm_pit_state2: the in-kernel i8254 PIT.</summary>
[InlineArray(112)] public struct KvmPitState2 { private byte _element0; }

/// <summary>struct kvm_debugregs: DR0-3, DR6, DR7.</summary>
[InlineArray(128)] public struct KvmDebugregs { private byte _element0; }

/// <summary>struct kvm_xcrs: the extended control registers (XCR0).</summary>
[InlineArray(392)] public struct KvmXcrs { private byte _element0; }

/// <summary>struct kvm_fpu: x87 and SSE state (used only where XSAVE is not available).</summary>
[InlineArray(416)] public struct KvmFpu { private byte _element0; }
