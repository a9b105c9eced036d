namespace Ferry.Vmm.Devices.Power;

/// <summary>
/// Just enough of the PC keyboard controller for the oldest reboot path: command 0xFE on port
/// 0x64 pulses the CPU reset line. Linux tries it when other reboot methods fail.
/// </summary>
public sealed class I8042(Action<PowerEvent> onEvent) : IPortDevice
{
    public const ushort DataPort = 0x60, CommandPort = 0x64;
    private const byte PulseResetLine = 0xfe;

    public void Read(ushort port, Span<byte> data) => data.Fill(0); // output buffer empty, input buffer empty

    public void Write(ushort port, ReadOnlySpan<byte> data)
    {
        if (port == CommandPort && data[0] == PulseResetLine) onEvent(PowerEvent.Reset);
    }
}
