using System.Globalization;

namespace Ferry.Compare.Output;

/// <summary>
/// The swept variable as a plot's x axis and a section's heading: its name with a unit, and each
/// value as written turned into a number (1Gbit → 1e9) so the points are spaced by value.
/// </summary>
internal sealed class SweepAxis
{
    public required string Label { get; init; }
    /// <summary>Where each point sits on the axis (log10 of the value on a log axis).</summary>
    public required IReadOnlyList<double> Positions { get; init; }
    /// <summary>The values as written, for the ticks: "1Gbit" reads better than 1E+09.</summary>
    public required IReadOnlyList<string> TickLabels { get; init; }

    public static SweepAxis For(string variable, IReadOnlyList<string?> values)
    {
        string[] labels = [.. values.Select(v => v ?? "none")];
        double[] numbers = new double[values.Count];
        bool numeric = true;
        for (int i = 0; i < values.Count; i++)
            numeric &= values[i] is { } v && TryParseNumber(v, out numbers[i]);
        string label = AxisLabel(variable);
        if (!numeric || numbers.Distinct().Count() != numbers.Length)
            // Values that are no numbers still get a plot: evenly spaced, in the sweep's order.
            return new SweepAxis { Label = label, Positions = [.. Enumerable.Range(0, values.Count).Select(i => (double)i)], TickLabels = labels };
        // Sweeps usually step by factors of ten (1000, 10000, 100000 pages/s): spaced linearly,
        // all but the last point would crowd at the left edge.
        bool log = numbers.All(n => n > 0) && numbers.Max() / numbers.Min() >= 100;
        return new SweepAxis
        {
            Label = log ? label + ", log scale" : label,
            Positions = log ? [.. numbers.Select(Math.Log10)] : numbers,
            TickLabels = labels,
        };
    }

    /// <summary>The heading of one point's section, e.g. "rate = 1000 pages/s".</summary>
    public static string Heading(string variable, string? value) => (variable, value ?? "none") switch
    {
        ("rate", var v) => $"rate = {v} pages/s",
        ("mb", var v) => $"mb = {v} MiB",
        (_, var v) => $"{variable} = {v}",
    };

    private static string AxisLabel(string variable) => variable switch
    {
        "rate" => "rate (pages/s)",
        "mb" => "mb (MiB)",
        "bandwidth" => "bandwidth (bit/s)",
        _ => variable,
    };

    /// <summary>
    /// A plain number (a rate, a size in MiB), or a bandwidth as ferry's --bandwidth takes it
    /// (1Gbit, 500Mbit: <see cref="Ferry.Api.RateParser"/>).
    /// </summary>
    public static bool TryParseNumber(string text, out double value)
    {
        if (double.TryParse(text.Trim(), NumberStyles.AllowDecimalPoint | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out value))
            return true;
        bool parsed = Ferry.Api.RateParser.TryParseBitsPerSecond(text, out long bits);
        value = bits;
        return parsed;
    }
}
