using ScottPlot;
using ScottPlot.TickGenerators;

namespace Ferry.Compare.Output;

public static partial class Plots
{
    /// <summary>
    /// Without a sweep (or at its one point): a bar per technique at its median, error bars from
    /// min to max. A second figure (guest-observed downtime) stands beside the first, lighter.
    /// </summary>
    private static string DrawBars(Plot plot, PlotSpec spec, IReadOnlyList<SummaryRow> rows, IReadOnlyList<string> techniques,
        string? point, string? pointHeading)
    {
        var scale = YScale.For(spec, rows);
        double width = 0.8 / spec.Series.Count;
        var ticks = new NumericManual();
        for (int t = 0; t < techniques.Count; t++)
        {
            string technique = techniques[t];
            var row = rows.FirstOrDefault(r => r.Point == point && r.Technique == technique);
            var color = ColorOf(t);
            bool any = false;
            for (int s = 0; s < spec.Series.Count; s++)
            {
                if (row?[spec.Series[s]] is not { } v) continue;
                any = true;
                double x = t + (s - (spec.Series.Count - 1) / 2.0) * width;
                double y = v.Median / scale.Divisor;
                plot.Add.Bar(new Bar { Position = x, Value = y, Size = width * 0.9, FillColor = s == 0 ? color : color.WithAlpha(0.45) });
                var errors = plot.Add.ErrorBar([x], [y], [0]);
                errors.YErrorNegative = [y - v.Min / scale.Divisor];
                errors.YErrorPositive = [v.Max / scale.Divisor - y];
                errors.Color = Colors.Black;
            }
            // No bar is not a zero bar: the tick says why it is missing.
            string why = row is null || row.NotRun ? "not run" : row.AllFailed ? "failed" : "n/a";
            ticks.AddMajor(t, any ? technique : $"{technique}\n({why})");
        }
        if (spec.Series.Count > 1)
            for (int s = 0; s < spec.Series.Count; s++)
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = SeriesNames[s], FillColor = s == 0 ? Colors.Gray : Colors.Gray.WithAlpha(0.45) });
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.YLabel(scale.Label(spec.YName));
        string title = pointHeading is null ? $"{spec.Title} by technique" : $"{spec.Title} by technique, {pointHeading}";
        plot.Title(title);
        if (spec.Series.Count > 1) plot.ShowLegend(Alignment.UpperLeft);
        FromZero(plot);
        // Every technique keeps its slot, even one with no bar at either end.
        plot.Axes.SetLimitsX(-0.6, techniques.Count - 0.4);
        return title;
    }
}
