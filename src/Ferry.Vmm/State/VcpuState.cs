using Ferry.Kvm;
using Ferry.Kvm.Structs;

namespace Ferry.Vmm.State;

/// <summary>
/// Everything KVM holds for one vCPU, captured while it is parked. Saved and restored in the
/// order KVM needs: MP state, registers, special registers (which set APIC_BASE before the
/// LAPIC), FPU/XSAVE, XCRs, debug registers, LAPIC, MSRs, and pending events last.
/// </summary>
public sealed class VcpuState
{
    public uint MpState;
    public KvmRegs Regs;
    public KvmSregs Sregs;
    public byte[] Xsave = [];
    public KvmXcrs Xcrs;
    public KvmDebugregs Debugregs;
    public KvmLapicState Lapic;
    public KvmMsrEntry[] Msrs = [];
    public KvmVcpuEvents Events;

    public static VcpuState Capture(VcpuFd fd, int xsaveSize, ReadOnlySpan<uint> msrIndices) => new()
    {
        MpState = fd.GetMpState(),
        Regs = fd.GetRegs(),
        Sregs = fd.GetSregs(),
        Xsave = fd.GetXsave(xsaveSize),
        Xcrs = fd.GetXcrs(),
        Debugregs = fd.GetDebugregs(),
        Lapic = fd.GetLapic(),
        Msrs = ReadableMsrs(fd, msrIndices),
        Events = fd.GetVcpuEvents(),
    };

    public void Apply(VcpuFd fd)
    {
        fd.SetMpState(MpState);
        fd.SetRegs(Regs);
        fd.SetSregs(Sregs);
        fd.SetXsave(Xsave);
        fd.SetXcrs(Xcrs);
        fd.SetDebugregs(Debugregs);
        fd.SetLapic(Lapic);
        fd.SetMsrs(Msrs);
        fd.SetVcpuEvents(Events);
    }

    public void Write(StateWriter w)
    {
        w.U32(MpState);
        w.Struct(Regs);
        w.Struct(Sregs);
        w.Blob(Xsave);
        w.Struct(Xcrs);
        w.Struct(Debugregs);
        w.Struct(Lapic);
        w.U32((uint)Msrs.Length);
        foreach (var m in Msrs) { w.U32(m.Index); w.U64(m.Data); }
        w.Struct(Events);
    }

    public static VcpuState Read(ref StateReader r)
    {
        var s = new VcpuState
        {
            MpState = r.U32("mp_state"),
            Regs = r.Struct<KvmRegs>("regs"),
            Sregs = r.Struct<KvmSregs>("sregs"),
            Xsave = r.Blob("xsave").ToArray(),
            Xcrs = r.Struct<KvmXcrs>("xcrs"),
            Debugregs = r.Struct<KvmDebugregs>("debugregs"),
            Lapic = r.Struct<KvmLapicState>("lapic"),
        };
        uint count = r.U32("msr count");
        if (count > 4096) throw new InvalidDataException($"msr count {count} is implausible");
        s.Msrs = new KvmMsrEntry[count];
        for (int i = 0; i < count; i++) s.Msrs[i] = new KvmMsrEntry(r.U32("msr index"), r.U64("msr value"));
        s.Events = r.Struct<KvmVcpuEvents>("vcpu events");
        return s;
    }

    /// <summary>
    /// KVM_GET_MSRS stops at the first MSR it cannot read; the list KVM offers includes a few
    /// this vCPU's CPUID does not enable. Read around them, keeping every one that answers.
    /// </summary>
    private static KvmMsrEntry[] ReadableMsrs(VcpuFd fd, ReadOnlySpan<uint> indices)
    {
        var result = new List<KvmMsrEntry>(indices.Length);
        while (!indices.IsEmpty)
        {
            var read = fd.GetMsrs(indices);
            result.AddRange(read);
            indices = indices[Math.Min(read.Length + 1, indices.Length)..];
        }
        return [.. result];
    }
}
