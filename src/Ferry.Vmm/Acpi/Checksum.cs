namespace Ferry.Vmm.Acpi;

/// <summary>ACPI checksums: a table's bytes, checksum included, sum to zero modulo 256.</summary>
public static class Checksum
{
    public static byte Sum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return sum;
    }

    /// <summary>The value that, stored in a zeroed checksum byte, makes <paramref name="bytes"/> sum to zero.</summary>
    public static byte Complement(ReadOnlySpan<byte> bytes) => (byte)(0 - Sum(bytes));
}
