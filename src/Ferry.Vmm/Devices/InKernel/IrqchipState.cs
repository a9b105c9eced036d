using Ferry.Kvm;
using Ferry.Kvm.Structs;
using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.InKernel;

/// <summary>
/// What a snapshot keeps of the in-kernel interrupt controllers: struct kvm_irqchip of the master
/// PIC, the slave PIC and the IOAPIC (chip ids 0, 1, 2), byte for byte as KVM gives them. KVM
/// creates these devices with the VM, so restoring sets them rather than building new ones.
/// Version 1: the three structs, each length-prefixed.
/// </summary>
public sealed record IrqchipState(KvmIrqchip PicMaster, KvmIrqchip PicSlave, KvmIrqchip Ioapic) : IDeviceState<IrqchipState>
{
    public static uint Version => 1;

    /// <summary>The chips in KVM's chip-id order.</summary>
    public KvmIrqchip[] Chips => [PicMaster, PicSlave, Ioapic];

    public static IrqchipState Capture(VmFd vm) => new(vm.GetIrqchip(0), vm.GetIrqchip(1), vm.GetIrqchip(2));

    public void Apply(VmFd vm)
    {
        foreach (var chip in Chips) vm.SetIrqchip(chip);
    }

    public void Write(StateWriter payload)
    {
        foreach (var chip in Chips) payload.Struct(chip);
    }

    public static IrqchipState Read(uint version, ref StateReader payload) =>
        new(Chip(ref payload, 0), Chip(ref payload, 1), Chip(ref payload, 2));

    private static KvmIrqchip Chip(ref StateReader payload, uint id)
    {
        var chip = payload.Struct<KvmIrqchip>($"chip {id}");
        // KVM_SET_IRQCHIP picks the chip by this id: a wrong one would load a PIC's bytes into the IOAPIC.
        uint saved = BitConverter.ToUInt32(chip[IrqchipFields.ChipId..(IrqchipFields.ChipId + 4)]);
        if (saved != id) throw new InvalidDataException($"chip {id}: chip_id is {saved}");
        return chip;
    }
}
