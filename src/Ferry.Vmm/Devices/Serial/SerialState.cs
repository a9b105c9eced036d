namespace Ferry.Vmm.Devices.Serial;

/// <summary>What a snapshot keeps of the 16550 UART. Raise Version when a field changes meaning.</summary>
public sealed record SerialState(byte Ier, byte Lcr, byte Mcr, byte Scratch, ushort Divisor, bool ThrEmptyPending, byte[] PendingInput)
{
    public const int Version = 1;
}
