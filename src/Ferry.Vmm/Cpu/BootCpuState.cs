using Ferry.Kvm.Structs;
using Ferry.Vmm.Boot;

namespace Ferry.Vmm.Cpu;

/// <summary>The registers of the boot vCPU at the first instruction, for each entry protocol.</summary>
public static class BootCpuState
{
    private const ulong Cr0ProtectionEnable = 1, Cr0ExtensionType = 1 << 4, Cr0Paging = 1UL << 31;
    private const ulong Cr4Pae = 1 << 5;
    private const ulong EferLme = 1 << 8, EferLma = 1 << 10;
    public const ushort CodeSelector = 0x10, DataSelector = 0x18, TssSelector = 0x20;

    /// <summary>The boot GDT at BootLayout.Gdt: null, null, 64-bit code (0x10), data (0x18), 32-bit code (0x20 unused by PVH's CS cache).</summary>
    public static ulong[] GdtEntries(bool longMode) =>
    [
        0,
        0,
        longMode ? 0x00af9b000000ffffUL : 0x00cf9b000000ffffUL, // code: base 0, limit 4 GiB, present, exec/read
        0x00cf93000000ffffUL,                                    // data: base 0, limit 4 GiB, read/write
        0x00008b0000000067UL,                                    // TSS (busy), never used but required by KVM
    ];

    /// <summary>PVH: 32-bit protected mode, paging off, flat segments, EBX = hvm_start_info.</summary>
    public static (KvmRegs, KvmSregs) Pvh(KvmSregs sregs, uint entry)
    {
        sregs.Cs = Segment(CodeSelector, type: 0xb, longMode: false);
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = Segment(DataSelector, type: 0x3, longMode: false);
        sregs.Tr = new KvmSegment { Selector = TssSelector, Limit = 0x67, Type = 0xb, Present = 1 };
        sregs.Gdt = new KvmDtable { Base = BootLayout.Gdt, Limit = 5 * 8 - 1 };
        sregs.Idt = new KvmDtable { Base = 0, Limit = 0 };
        sregs.Cr0 = Cr0ProtectionEnable | Cr0ExtensionType;
        sregs.Cr3 = 0;
        sregs.Cr4 = 0;
        sregs.Efer = 0;
        var regs = new KvmRegs { Rip = entry, Rbx = BootLayout.HvmStartInfo, Rflags = 2 };
        return (regs, sregs);
    }

    /// <summary>Linux 64-bit boot protocol: long mode, identity-mapped first 4 GiB, RSI = boot_params.</summary>
    public static (KvmRegs, KvmSregs) Linux64(KvmSregs sregs, ulong entry)
    {
        sregs.Cs = Segment(CodeSelector, type: 0xb, longMode: true);
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = Segment(DataSelector, type: 0x3, longMode: false);
        sregs.Tr = new KvmSegment { Selector = TssSelector, Limit = 0x67, Type = 0xb, Present = 1 };
        sregs.Gdt = new KvmDtable { Base = BootLayout.Gdt, Limit = 5 * 8 - 1 };
        sregs.Idt = new KvmDtable { Base = 0, Limit = 0 };
        sregs.Cr0 = Cr0ProtectionEnable | Cr0ExtensionType | Cr0Paging;
        sregs.Cr3 = BootLayout.Pml4;
        sregs.Cr4 = Cr4Pae;
        sregs.Efer = EferLme | EferLma;
        var regs = new KvmRegs { Rip = entry, Rsi = BootLayout.ZeroPage, Rsp = BootLayout.BootStack, Rflags = 2 };
        return (regs, sregs);
    }

    /// <summary>Identity page tables for the first 4 GiB in 2 MiB pages, at BootLayout.Pml4.. (gpa, bytes).</summary>
    public static IEnumerable<(ulong Gpa, byte[] Bytes)> IdentityPageTables()
    {
        const ulong Present = 1, Writable = 2, Huge = 0x80;
        var pml4 = new byte[4096];
        BitConverter.TryWriteBytes(pml4, BootLayout.Pdpt | Present | Writable);
        var pdpt = new byte[4096];
        for (int i = 0; i < 4; i++)
            BitConverter.TryWriteBytes(pdpt.AsSpan(i * 8), (BootLayout.PageDirectories + (ulong)i * 4096) | Present | Writable);
        var pds = new byte[4 * 4096];
        for (int i = 0; i < 4 * 512; i++)
            BitConverter.TryWriteBytes(pds.AsSpan(i * 8), ((ulong)i << 21) | Present | Writable | Huge);
        yield return (BootLayout.Pml4, pml4);
        yield return (BootLayout.Pdpt, pdpt);
        yield return (BootLayout.PageDirectories, pds);
    }

    private static KvmSegment Segment(ushort selector, byte type, bool longMode) => new()
    {
        Base = 0,
        Limit = 0xffffffff,
        Selector = selector,
        Type = type,
        Present = 1,
        S = 1,
        G = 1,
        Db = longMode ? (byte)0 : (byte)1,
        L = longMode ? (byte)1 : (byte)0,
    };
}
