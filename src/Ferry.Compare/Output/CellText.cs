using System.Globalization;

namespace Ferry.Compare.Output;

/// <summary>
/// The words of one table cell, shared by the Markdown and HTML tables so both say the same thing:
/// "median (min–max)" in a unit picked from the median, so the three numbers share it.
/// </summary>
internal static class CellText
{
    /// <summary>Said where a figure does not apply to a technique or was not measured.</summary>
    public const string NotApplicable = "—";

    public static string Of(Spread? spread, FigureUnit unit)
    {
        if (spread is not { } s) return NotApplicable;
        var scale = Scale.For(s.Median, unit);
        string median = scale.Format(s.Median), min = scale.Format(s.Min), max = scale.Format(s.Max);
        string withUnit = median + scale.Suffix;
        return min == max ? withUnit : $"{withUnit} ({min}–{max})";
    }

    /// <summary>The ok column: "2 of 2", or what is missing.</summary>
    public static string OkRuns(SummaryRow row) => $"{row.OkRuns} of {row.OkRuns + row.FailedRuns}";

    /// <summary>The notes column: empty when every run went well.</summary>
    public static string Notes(SummaryRow row)
    {
        if (row.NotRun) return "not run";
        if (row.FailedRuns == 0) return "";
        string error = OneLine(row.FirstError ?? "");
        return row.AllFailed ? $"failed: {error}" : $"{row.FailedRuns} of {row.OkRuns + row.FailedRuns} failed: {error}";
    }

    /// <summary>Errors are meant to be one line; a table row breaks if one is not.</summary>
    public static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>A wall-clock duration as a person reads it: 42.1 s, 12 min 5 s, 2 h 3 min.</summary>
    public static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds));
        if (t.TotalMinutes < 1) return seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
        if (t.TotalHours < 1) return $"{t.Minutes} min {t.Seconds} s";
        return $"{(int)t.TotalHours} h {t.Minutes} min";
    }

    /// <summary>A unit and a precision, chosen once per cell.</summary>
    private sealed record Scale(double Divisor, string Format0, string Suffix)
    {
        public string Format(double value) => (value / Divisor).ToString(Format0, CultureInfo.InvariantCulture);

        public static Scale For(double median, FigureUnit unit)
        {
            double m = Math.Abs(median);
            return unit switch
            {
                // Under 100 ms a tenth of a millisecond is still news; above it, noise.
                FigureUnit.Milliseconds => m < 100 ? new(1, "0.0", " ms") : m < 10_000 ? new(1, "0", " ms") : new(1000, "0.0", " s"),
                FigureUnit.Microseconds => m < 100 ? new(1, "0.0", " µs") : m < 10_000 ? new(1, "0", " µs") : new(1000, "0.0", " ms"),
                FigureUnit.Bytes => m < 1 << 20 ? new(1 << 10, "0.0", " KiB") : m < 1 << 30 ? new(1 << 20, "0.0", " MiB") : new(1 << 30, "0.00", " GiB"),
                FigureUnit.Ratio => new(1, "0.00", ""),
                FigureUnit.Count => new(1, "#,0", ""),
                FigureUnit.Fraction => new(0.01, "0.0", "%"),
                _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, null),
            };
        }
    }
}
