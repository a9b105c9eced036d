using Ferry.Kvm;
using Ferry.Kvm.Structs;
using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.InKernel;

/// <summary>
/// What a snapshot keeps of the in-kernel i8254 PIT: struct kvm_pit_state2 as KVM gives it.
/// Version 1: the struct, length-prefixed.
/// </summary>
public sealed record PitState(KvmPitState2 Pit) : IDeviceState<PitState>
{
    public static uint Version => 1;

    public static PitState Capture(VmFd vm) => new(vm.GetPit2());

    public void Apply(VmFd vm) => vm.SetPit2(Pit);

    public void Write(StateWriter payload) => payload.Struct(Pit);

    public static PitState Read(uint version, ref StateReader payload)
    {
        var pit = payload.Struct<KvmPitState2>("kvm_pit_state2");
        ReadOnlySpan<byte> b = pit;
        for (int c = 0; c < 3; c++)
        {
            var channel = b.Slice(PitState2Fields.Channels + c * PitState2Fields.ChannelSize, PitState2Fields.ChannelSize);
            // KVM resets a channel's mode to 0xff until the guest programs it.
            if (channel[PitState2Fields.ChannelMode] is > 5 and not 0xff || channel[PitState2Fields.ChannelRwMode] > 4 ||
                channel[PitState2Fields.ChannelBcd] > 1 || channel[PitState2Fields.ChannelGate] > 1)
                throw new InvalidDataException($"channel {c}: mode {channel[PitState2Fields.ChannelMode]}, rw_mode {channel[PitState2Fields.ChannelRwMode]}, " +
                                               $"bcd {channel[PitState2Fields.ChannelBcd]}, gate {channel[PitState2Fields.ChannelGate]} are not an 8254's");
        }
        return new PitState(pit);
    }
}
