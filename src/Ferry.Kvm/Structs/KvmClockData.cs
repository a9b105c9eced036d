using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>struct kvm_clock_data: the VM's kvmclock, in nanoseconds.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmClockData
{
    public ulong Clock;
    public uint Flags, Pad0;
    public ulong Realtime, HostTsc;
    public uint Pad1, Pad2, Pad3, Pad4;
}
