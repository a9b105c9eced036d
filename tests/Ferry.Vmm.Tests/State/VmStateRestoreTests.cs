using Ferry.Kvm.Structs;
using Ferry.Tests.Shared;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.State;

/// <summary>
/// A real VM's state through every step: saved by a paused guest, encoded, decoded, restored
/// into a new VM (the in-kernel devices set into KVM, the UART built anew), and saved again.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class VmStateRestoreTests
{
    [KvmFact]
    public void A_restored_vm_holds_the_devices_it_was_given()
    {
        using var kvm = Kvm.Kvm.Open();
        var host = HostStateLimits.Of(kvm);
        using var source = RunningGuest.Start(1, 64UL << 20, TestGuest.Run("memtouch", "--mb 4 --rate 100", powerOff: false));
        source.WaitFor("memtouch ready");
        source.Vm.Pause();
        byte[] state = source.Vm.SaveState();
        var saved = VmState.Decode(state, 1, host);
        Assert.Equal(state, saved.Encode()); // decoding keeps every byte

        using var target = RunningGuest.Create(1, 64UL << 20, "");
        var uartBefore = target.Vm.Serial;
        target.Vm.LoadState(state);
        Assert.NotSame(uartBefore, target.Vm.Serial);
        target.Vm.Start(paused: true);
        var restored = VmState.Decode(target.Vm.SaveState(), 1, host);

        for (int i = 0; i < 3; i++) Assert.Equal(StructBytes.Bytes(saved.Irqchip.Chips[i]), StructBytes.Bytes(restored.Irqchip.Chips[i]));
        Assert.Equal(saved.Clock.Clock.Clock, restored.Clock.Clock.Clock);
        Assert.Equal(saved.Serial with { PendingInput = [] }, restored.Serial with { PendingInput = [] });
        Assert.Equal(saved.Serial.PendingInput, restored.Serial.PendingInput);
        // KVM restarts each PIT channel's count when it is set, so only the programming is compared.
        for (int c = 0; c < 3; c++)
        {
            int mode = PitState2Fields.Channels + c * PitState2Fields.ChannelSize + PitState2Fields.ChannelMode;
            Assert.Equal(StructBytes.Bytes(saved.Pit.Pit)[mode], StructBytes.Bytes(restored.Pit.Pit)[mode]);
        }
    }
}
