using System.Buffers.Binary;
using Ferry.Kvm.Structs;

namespace Ferry.Vmm.Cpu;

/// <summary>Local APIC set-up at reset, as PC firmware leaves it: LINT0 delivers the PIC's interrupts (ExtINT), LINT1 NMIs.</summary>
public static class LapicSetup
{
    private const int Lint0 = 0x350, Lint1 = 0x360;
    private const uint DeliveryModeExtInt = 7 << 8, DeliveryModeNmi = 4 << 8;

    public static KvmLapicState WithLegacyInterruptLines(KvmLapicState lapic)
    {
        Span<byte> regs = lapic;
        Set(regs, Lint0, DeliveryModeExtInt);
        Set(regs, Lint1, DeliveryModeNmi);
        return lapic;
    }

    private static void Set(Span<byte> regs, int offset, uint deliveryMode)
    {
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(regs[offset..]);
        value = (value & ~0x700u) | deliveryMode;
        BinaryPrimitives.WriteUInt32LittleEndian(regs[offset..], value);
    }
}
