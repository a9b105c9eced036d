using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>The head of struct kvm_run, the page shared with KVM, up to its exit union (offset 32).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRun
{
    public byte RequestInterruptWindow, ImmediateExit;
    public byte Padding0, Padding1, Padding2, Padding3, Padding4, Padding5;
    public uint ExitReason;
    public byte ReadyForInterruptInjection, IfFlag;
    public ushort Flags;
    public ulong Cr8, ApicBase;
    // The exit union starts here; KvmRunIo, KvmRunMmio, ... overlay it.
}

/// <summary>kvm_run.io, for KVM_EXIT_IO. The data lives at DataOffset from the start of kvm_run.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunIo
{
    public const byte DirectionIn = 0, DirectionOut = 1;
    public byte Direction, Size;
    public ushort Port;
    public uint Count;
    public ulong DataOffset;
}

/// <summary>kvm_run.mmio, for KVM_EXIT_MMIO.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunMmio
{
    public ulong PhysAddr;
    public ulong Data;
    public uint Len;
    public byte IsWrite;
}

/// <summary>kvm_run.internal and kvm_run.system_event share this shape: a code and up to 16 words.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRunCodeAndData
{
    public uint Code, Ndata;
    public ulong Data0, Data1, Data2, Data3;
}
