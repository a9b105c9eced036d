namespace Ferry.Vmm.Acpi;

/// <summary>An ACPI Generic Address Structure: a register in I/O (SpaceId 1) or memory (0) space.</summary>
public readonly record struct GenericAddress(byte SpaceId, byte BitWidth, byte BitOffset, byte AccessSize, ulong Address)
{
    public static GenericAddress None => default;
    public static GenericAddress IoPort(ushort port, byte bitWidth) =>
        new(1, bitWidth, 0, (byte)(bitWidth switch { 8 => 1, 16 => 2, 32 => 3, _ => 4 }), port);
}
