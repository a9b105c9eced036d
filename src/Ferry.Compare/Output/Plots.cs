using ScottPlot;
using SkiaSharp;

namespace Ferry.Compare.Output;

/// <summary>
/// The plots of a comparison, drawn with ScottPlot: downtime (reported solid, guest-observed
/// dashed), total time and bytes sent. With a sweep of two or more points, each figure against the
/// swept variable, a line per technique with min–max error bars; without one, bars per technique.
/// A technique with no ok run at a point leaves a gap there, never a zero.
/// </summary>
public static partial class Plots
{
    public const int Width = 800, Height = 500;

    /// <summary>Empty when no run went well: an empty plot says nothing the table does not.</summary>
    public static IReadOnlyList<PlotImage> Render(ComparisonReport report)
    {
        var rows = Summary.Of(report);
        if (!rows.Any(r => r.OkRuns > 0)) return [];
        var points = Summary.Points(report);
        var techniques = Summary.Techniques(report);
        var images = new List<PlotImage>();
        foreach (var spec in Specs)
        {
            using var plot = new Plot();
            if (SansFont is not null) plot.Font.Set(SansFont);
            string title = points.Count >= 2 && report.Plan.Sweep is { } sweep
                ? DrawSweep(plot, spec, rows, points, techniques, sweep.Variable)
                : DrawBars(plot, spec, rows, techniques, points[0], TableLayout.Sections(report, rows).First().Heading);
            images.Add(new PlotImage(spec.Name, title, plot.GetSvgXml(Width, Height), plot.GetImageBytes(Width, Height, ImageFormat.Png)));
        }
        return images;
    }

    /// <summary>
    /// ScottPlot falls back to a serif face when its preferred fonts are missing (as on a Debian
    /// host with only DejaVu); plots read better in a sans face, so take the first one installed.
    /// </summary>
    private static readonly string? SansFont =
        ((string[])["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"])
        .FirstOrDefault(SKFontManager.Default.GetFontFamilies().Contains);

    /// <summary>What one plot shows: figures sharing a y axis, the first solid, the second dashed.</summary>
    private sealed record PlotSpec(string Name, string Title, string YName, IReadOnlyList<Figure> Series);

    private static readonly PlotSpec[] Specs =
    [
        new("downtime", "Downtime", "downtime", [Figure.Downtime, Figure.GuestDowntime]),
        new("total", "Total time", "total time", [Figure.Total]),
        new("bytes", "Bytes sent", "sent", [Figure.BytesSent]),
    ];

    private static readonly string[] SeriesNames = ["reported", "guest-observed"];
    private static readonly LinePattern[] SeriesPatterns = [LinePattern.Solid, LinePattern.Dashed];

    /// <summary>A technique keeps its colour in every plot: the colour of its place in the plan.</summary>
    private static Color ColorOf(int technique) => new ScottPlot.Palettes.Category10().GetColor(technique);

    /// <summary>A y unit for the whole plot, picked from its largest value, so ticks stay short.</summary>
    private sealed record YScale(double Divisor, string Unit)
    {
        public static YScale For(PlotSpec spec, IEnumerable<SummaryRow> rows)
        {
            double max = rows.SelectMany(r => spec.Series.Select(f => r[f]?.Max ?? 0)).DefaultIfEmpty(0).Max();
            return spec.Series[0].Unit switch
            {
                FigureUnit.Milliseconds => max >= 10_000 ? new(1000, "s") : new(1, "ms"),
                FigureUnit.Bytes => max >= 1 << 30 ? new(1 << 30, "GiB") : new(1 << 20, "MiB"),
                _ => new(1, ""),
            };
        }

        public string Label(string name) => Unit.Length == 0 ? name : $"{name} ({Unit})";
    }

    /// <summary>Bars and lines both start at zero: these are amounts, and a cut axis exaggerates.</summary>
    private static void FromZero(Plot plot)
    {
        plot.Axes.AutoScale();
        var limits = plot.Axes.GetLimits();
        plot.Axes.SetLimitsY(0, Math.Max(limits.Top, 1e-9));
    }
}
