using System.Buffers.Binary;
using System.Numerics;
using Ferry.Kvm.Structs;

namespace Ferry.Vmm.State;

/// <summary>
/// What a saved vCPU may hold: the architectural reserved bits and the ranges KVM itself
/// enforces (or silently misreads), checked so that a damaged or hostile state is refused with
/// its field named instead of reaching KVM. Only what no real x86 vCPU can be in is refused.
/// </summary>
public static class VcpuStateRules
{
    // MP states an x86 vCPU can be in: RUNNABLE, UNINITIALIZED, INIT_RECEIVED, HALTED, SIPI_RECEIVED.
    private const uint MaxX86MpState = 4;
    // RFLAGS: bit 1 is always set; bits 3, 5, 15 and 22-63 are reserved.
    private const ulong RflagsReserved = ~0x3F_FFFFUL | 1UL << 3 | 1UL << 5 | 1UL << 15;
    // EFER: SCE, LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE, AUTOIBRS.
    private const ulong EferKnown = 1UL | 1UL << 8 | 1UL << 10 | 1UL << 11 | 1UL << 12 | 1UL << 13 | 1UL << 14 | 1UL << 15 | 1UL << 21;
    // APIC_BASE: bits 0-7 and 9 are reserved; bit 8 BSP, 10 x2APIC, 11 enable, 12+ the base.
    private const ulong ApicBaseReserved = 0x2FF;

    public static void Check(VcpuState s, string vcpu, IReadOnlySet<uint> knownMsrs)
    {
        if (s.MpState > MaxX86MpState) throw Bad(vcpu, "mp_state", s.MpState, "is not an x86 vCPU state");
        if ((s.Regs.Rflags & 2) == 0 || (s.Regs.Rflags & RflagsReserved) != 0) throw Bad(vcpu, "regs.rflags", s.Regs.Rflags, "has reserved bits wrong");
        CheckSregs(s.Sregs, vcpu);
        CheckXcrs(s.Xcrs, vcpu);
        CheckDebugregs(s.Debugregs, vcpu);
        CheckEvents(s.Events, vcpu);
        var seen = new HashSet<uint>();
        foreach (var msr in s.Msrs)
        {
            if (!knownMsrs.Contains(msr.Index)) throw new InvalidDataException($"{vcpu}: MSR 0x{msr.Index:x} is not one this host's KVM saves or restores");
            if (!seen.Add(msr.Index)) throw new InvalidDataException($"{vcpu}: MSR 0x{msr.Index:x} appears twice");
        }
    }

    private static void CheckSregs(KvmSregs s, string vcpu)
    {
        if (s.Cr0 >> 32 != 0) throw Bad(vcpu, "sregs.cr0", s.Cr0, "has reserved bits set");
        if (s.Cr4 >> 32 != 0) throw Bad(vcpu, "sregs.cr4", s.Cr4, "has reserved bits set");
        if ((s.Efer & ~EferKnown) != 0) throw Bad(vcpu, "sregs.efer", s.Efer, "has reserved bits set");
        if ((s.ApicBase & ApicBaseReserved) != 0 || s.ApicBase >> 52 != 0) throw Bad(vcpu, "sregs.apic_base", s.ApicBase, "has reserved bits set");
        if ((s.ApicBase & 0xC00) == 0x400) throw Bad(vcpu, "sregs.apic_base", s.ApicBase, "enables x2APIC with the APIC disabled");
        KvmSegment[] segments = [s.Cs, s.Ds, s.Es, s.Fs, s.Gs, s.Ss, s.Tr, s.Ldt];
        string[] names = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"];
        for (int i = 0; i < segments.Length; i++)
        {
            var g = segments[i];
            if (g.Type > 15 || g.Dpl > 3 || (g.Present | g.Db | g.S | g.L | g.G | g.Avl | g.Unusable) > 1)
                throw new InvalidDataException($"{vcpu}: sregs.{names[i]} is not a segment descriptor (type {g.Type}, dpl {g.Dpl})");
        }
        int pending = 0;
        for (int i = 0; i < 4; i++) pending += BitOperations.PopCount(s.InterruptBitmap[i]);
        if (pending > 1) throw new InvalidDataException($"{vcpu}: sregs.interrupt_bitmap has {pending} interrupts pending; a vCPU has at most one");
    }

    private static void CheckXcrs(KvmXcrs x, string vcpu)
    {
        ReadOnlySpan<byte> b = x;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[XcrsFields.NrXcrs..]);
        if (count > XcrsFields.MaxXcrs) throw Bad(vcpu, "xcrs.nr_xcrs", count, $"is more than {XcrsFields.MaxXcrs}");
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[XcrsFields.Flags..]) != 0) throw Bad(vcpu, "xcrs.flags", BinaryPrimitives.ReadUInt32LittleEndian(b[XcrsFields.Flags..]), "must be 0");
        for (int i = 0; i < count; i++)
        {
            var entry = b.Slice(XcrsFields.Xcrs + i * XcrsFields.XcrSize, XcrsFields.XcrSize);
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(entry[XcrsFields.XcrValue..]);
            if (BinaryPrimitives.ReadUInt32LittleEndian(entry[XcrsFields.XcrIndex..]) == 0 && (value & 1) == 0)
                throw Bad(vcpu, "xcrs.xcr0", value, "disables x87 state, which no CPU allows");
        }
    }

    private static void CheckDebugregs(KvmDebugregs d, string vcpu)
    {
        ReadOnlySpan<byte> b = d;
        ulong dr6 = BinaryPrimitives.ReadUInt64LittleEndian(b[DebugregsFields.Dr6..]);
        ulong dr7 = BinaryPrimitives.ReadUInt64LittleEndian(b[DebugregsFields.Dr7..]);
        ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(b[DebugregsFields.Flags..]);
        if (dr6 >> 32 != 0) throw Bad(vcpu, "debugregs.dr6", dr6, "has reserved bits set");
        if (dr7 >> 32 != 0) throw Bad(vcpu, "debugregs.dr7", dr7, "has reserved bits set");
        if (flags != 0) throw Bad(vcpu, "debugregs.flags", flags, "must be 0");
    }

    private static void CheckEvents(KvmVcpuEvents e, string vcpu)
    {
        ReadOnlySpan<byte> b = e;
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(b[VcpuEventsFields.Flags..]);
        if ((flags & ~VcpuEventsFields.KnownFlags) != 0) throw Bad(vcpu, "vcpu_events.flags", flags, "has unknown bits");
        if (b[VcpuEventsFields.ExceptionNr] >= 32) throw Bad(vcpu, "vcpu_events.exception.nr", b[VcpuEventsFields.ExceptionNr], "is not an exception vector (0-31)");
        if (b[VcpuEventsFields.InterruptShadow] > 3) throw Bad(vcpu, "vcpu_events.interrupt.shadow", b[VcpuEventsFields.InterruptShadow], "is not MOV SS/STI");
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[VcpuEventsFields.SipiVector..]) > 0xff)
            throw Bad(vcpu, "vcpu_events.sipi_vector", BinaryPrimitives.ReadUInt32LittleEndian(b[VcpuEventsFields.SipiVector..]), "is not a vector");
        (int At, string Name)[] booleans =
        [
            (VcpuEventsFields.ExceptionInjected, "exception.injected"), (VcpuEventsFields.ExceptionHasErrorCode, "exception.has_error_code"),
            (VcpuEventsFields.ExceptionPending, "exception.pending"), (VcpuEventsFields.InterruptInjected, "interrupt.injected"),
            (VcpuEventsFields.InterruptSoft, "interrupt.soft"), (VcpuEventsFields.NmiInjected, "nmi.injected"),
            (VcpuEventsFields.NmiPending, "nmi.pending"), (VcpuEventsFields.NmiMasked, "nmi.masked"),
            (VcpuEventsFields.SmiSmm, "smi.smm"), (VcpuEventsFields.SmiPending, "smi.pending"),
            (VcpuEventsFields.SmiInsideNmi, "smi.smm_inside_nmi"), (VcpuEventsFields.SmiLatchedInit, "smi.latched_init"),
            (VcpuEventsFields.ExceptionHasPayload, "exception_has_payload"),
        ];
        foreach (var (at, name) in booleans)
            if (b[at] > 1) throw Bad(vcpu, $"vcpu_events.{name}", b[at], "is not 0 or 1");
    }

    private static InvalidDataException Bad(string vcpu, string field, ulong value, string why) =>
        new($"{vcpu}: {field} 0x{value:x} {why}");
}
