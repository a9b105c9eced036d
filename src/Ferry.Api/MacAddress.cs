using System.Globalization;
using System.Security.Cryptography;

namespace Ferry.Api;

/// <summary>
/// An Ethernet address, written aa:bb:cc:dd:ee:ff: a network card's, as the VMM's device, the agent's
/// definitions and the control API all take it (so its rules are written once, here).
/// </summary>
public readonly record struct MacAddress(ulong Value)
{
    public const int Bytes = 6;

    public void CopyTo(Span<byte> destination)
    {
        for (int i = 0; i < Bytes; i++) destination[i] = (byte)(Value >> (8 * (Bytes - 1 - i)));
    }

    public byte[] ToArray()
    {
        var b = new byte[Bytes];
        CopyTo(b);
        return b;
    }

    public static MacAddress From(ReadOnlySpan<byte> bytes)
    {
        ulong v = 0;
        for (int i = 0; i < Bytes; i++) v = v << 8 | bytes[i];
        return new MacAddress(v);
    }

    /// <summary>A group (multicast or broadcast) address: bit 0 of the first byte.</summary>
    public bool IsMulticast => (Value >> 40 & 1) != 0;

    /// <summary>What a network card may use as its own: unicast and not all zeros.</summary>
    public bool IsUsableByCard => !IsMulticast && Value != 0;

    public override string ToString() => string.Join(':', ToArray().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    /// <summary>Parses six two-digit hex groups separated by ':'.</summary>
    public static bool TryParse(string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null) return false;
        var parts = text.Split(':');
        if (parts.Length != Bytes) return false;
        ulong v = 0;
        foreach (var p in parts)
        {
            if (p.Length != 2 || !byte.TryParse(p, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b)) return false;
            v = v << 8 | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    /// <summary>A random locally administered unicast address: 02:xx:xx:xx:xx:xx.</summary>
    public static MacAddress Generate()
    {
        Span<byte> b = stackalloc byte[Bytes];
        RandomNumberGenerator.Fill(b[1..]);
        b[0] = 0x02;
        return From(b);
    }
}
