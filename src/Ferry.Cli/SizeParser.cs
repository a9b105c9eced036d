using System.Globalization;

namespace Ferry.Cli;

/// <summary>Sizes as users write them: binary units, so 1G = 1 GiB = 2^30 bytes. K, M, G, T with an optional "iB"/"B".</summary>
public static class SizeParser
{
    public static bool TryParse(string text, out ulong bytes)
    {
        bytes = 0;
        var s = text.Trim();
        if (s.EndsWith("iB", StringComparison.OrdinalIgnoreCase)) s = s[..^2];
        else if (s.EndsWith('B') || s.EndsWith('b')) s = s[..^1];
        int shift = 0;
        if (s.Length > 0)
        {
            shift = char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
            if (shift != 0) s = s[..^1];
        }
        if (!ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value)) return false;
        if (value > ulong.MaxValue >> shift) return false;
        bytes = value << shift;
        return true;
    }
}
