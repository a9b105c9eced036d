using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_sregs (x86): segment, descriptor-table and control registers.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    public InterruptBitmap InterruptBitmap;
}

/// <summary>The pending external interrupt bitmap of struct kvm_sregs: 256 bits.</summary>
[InlineArray(4)]
public struct InterruptBitmap { private ulong _element0; }
