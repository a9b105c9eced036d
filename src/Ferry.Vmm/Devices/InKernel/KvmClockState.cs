using Ferry.Kvm.Structs;
using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.InKernel;

/// <summary>
/// What a snapshot keeps of kvmclock: struct kvm_clock_data as KVM_GET_CLOCK gave it at the
/// pause. The VM sets it back (flags cleared) when it resumes, so guest time continues from
/// where it stood. Version 1: the struct, length-prefixed.
/// </summary>
public sealed record KvmClockState(KvmClockData Clock) : IDeviceState<KvmClockState>
{
    public static uint Version => 1;

    public void Write(StateWriter payload) => payload.Struct(Clock);

    public static KvmClockState Read(uint version, ref StateReader payload) => new(payload.Struct<KvmClockData>("kvm_clock_data"));
}
