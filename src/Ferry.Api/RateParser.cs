using System.Globalization;

namespace Ferry.Api;

/// <summary>
/// Bandwidths and durations as users write them, read the same by every tool that takes them
/// (the CLI, ferry compare's plots, an agent). Bandwidths are decimal bits per second, as
/// networks are sold: 1Gbit = 10^9 bit/s (k, M, G, T; "bit", "bps" or "b" optional).
/// Durations need a unit: 50ms, 2s, 1.5m, 1h.
/// </summary>
public static class RateParser
{
    public static bool TryParseBitsPerSecond(string text, out long bitsPerSecond)
    {
        bitsPerSecond = 0;
        var s = text.Trim();
        foreach (var suffix in (string[])["bit/s", "bits", "bit", "bps", "b"])
            if (s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) { s = s[..^suffix.Length]; break; }
        double scale = 1;
        char unit = s.Length > 0 ? char.ToUpperInvariant(s[^1]) : ' ';
        if (unit is 'K' or 'M' or 'G' or 'T')
        {
            scale = unit switch { 'K' => 1e3, 'M' => 1e6, 'G' => 1e9, _ => 1e12 };
            s = s[..^1];
        }
        if (!double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) || value <= 0) return false;
        double bits = value * scale;
        if (bits > long.MaxValue / 2) return false;
        bitsPerSecond = (long)bits;
        return bitsPerSecond > 0;
    }

    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(30);

    /// <summary>A positive duration with a unit, at most <see cref="MaxDuration"/>.</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        var s = text.Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, ms) in units)
        {
            if (!s.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            if (!double.TryParse(s[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) || value <= 0) return false;
            // No option waits longer than this; beyond it a TimeSpan overflows (found by fuzzing).
            if (value * ms > MaxDuration.TotalMilliseconds) return false;
            duration = TimeSpan.FromMilliseconds(value * ms);
            return true;
        }
        return false;
    }
}
