using System.Buffers.Binary;
using Ferry.Vmm.Acpi;

namespace Ferry.Vmm.Devices.Power;

/// <summary>
/// The fixed ACPI registers the FADT points at: PM1a event (status/enable, read as zero) and
/// PM1a control, where writing SLP_TYP = \_S5 with SLP_EN powers the VM off; plus the reset
/// register at 0xcf9.
/// </summary>
public sealed class AcpiPowerManagement(Action<PowerEvent> onEvent) : IPortDevice
{
    private const ushort SleepEnable = 1 << 13;
    private const byte ResetCpu = 1 << 2;

    public void Read(ushort port, Span<byte> data) => data.Fill(0);

    public void Write(ushort port, ReadOnlySpan<byte> data)
    {
        if (port == AcpiPlatform.Pm1aControlBlock && data.Length >= 2)
        {
            ushort value = BinaryPrimitives.ReadUInt16LittleEndian(data);
            int sleepType = (value >> 10) & 7;
            if ((value & SleepEnable) != 0 && sleepType == AcpiPlatform.SleepTypeS5) onEvent(PowerEvent.PowerOff);
        }
        else if (port == AcpiPlatform.ResetPort && (data[0] & ResetCpu) != 0)
        {
            onEvent(PowerEvent.Reset);
        }
    }
}
