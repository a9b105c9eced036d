using ScottPlot;
using ScottPlot.TickGenerators;

namespace Ferry.Compare.Output;

public static partial class Plots
{
    /// <summary>A figure against the swept variable: a line per technique, error bars from min to max.</summary>
    private static string DrawSweep(Plot plot, PlotSpec spec, IReadOnlyList<SummaryRow> rows,
        IReadOnlyList<string?> points, IReadOnlyList<string> techniques, string variable)
    {
        var axis = SweepAxis.For(variable, points);
        var scale = YScale.For(spec, rows);
        double span = axis.Positions.Max() - axis.Positions.Min();
        for (int t = 0; t < techniques.Count; t++)
        {
            string technique = techniques[t];
            var color = ColorOf(t);
            // Techniques measured at one point sit a hair apart, so one's error bar does not hide another's.
            double dodge = (t - (techniques.Count - 1) / 2.0) * span * 0.006;
            bool measured = false;
            for (int s = 0; s < spec.Series.Count; s++)
            {
                var figure = spec.Series[s];
                Spread?[] values = [.. points.Select(p => rows.FirstOrDefault(r => r.Point == p && r.Technique == technique)?[figure])];
                foreach (int[] segment in Segments(values))
                {
                    double[] xs = [.. segment.Select(i => axis.Positions[i] + dodge)];
                    Spread[] spreads = [.. segment.Select(i => values[i]!.Value)];
                    double[] ys = [.. spreads.Select(v => v.Median / scale.Divisor)];
                    var line = plot.Add.Scatter(xs, ys, color);
                    line.LineWidth = 2;
                    line.LinePattern = SeriesPatterns[s];
                    line.MarkerSize = 7;
                    line.MarkerShape = s == 0 ? MarkerShape.FilledCircle : MarkerShape.OpenCircle;
                    measured = true;
                    var errors = plot.Add.ErrorBar(xs, ys, new double[xs.Length]);
                    errors.YErrorNegative = [.. spreads.Select((v, k) => ys[k] - v.Min / scale.Divisor)];
                    errors.YErrorPositive = [.. spreads.Select((v, k) => v.Max / scale.Divisor - ys[k])];
                    errors.Color = color;
                    errors.LineWidth = 1.5f;
                }
            }
            // The legend is built by hand to keep the plan's order: a technique that never went
            // well still gets its line there, or the reader would think it was not tried.
            plot.Legend.ManualItems.Add(measured
                ? new LegendItem { LabelText = technique, LineColor = color, LineWidth = 2, MarkerShape = MarkerShape.FilledCircle, MarkerColor = color, MarkerSize = 7 }
                : new LegendItem { LabelText = $"{technique} (no ok run)", LineColor = color, LineWidth = 2, LinePattern = LinePattern.Dotted });
        }
        AddSeriesKey(plot, spec);
        plot.Axes.Bottom.TickGenerator = new NumericManual([.. axis.Positions], [.. axis.TickLabels]);
        plot.XLabel(axis.Label);
        plot.YLabel(scale.Label(spec.YName));
        string title = $"{spec.Title} vs {variable}";
        plot.Title(title);
        plot.ShowLegend(Edge.Right);
        FromZero(plot);
        return title;
    }

    /// <summary>Where a plot shows two figures, grey legend entries say which line style is which.</summary>
    private static void AddSeriesKey(Plot plot, PlotSpec spec)
    {
        if (spec.Series.Count < 2) return;
        for (int s = 0; s < spec.Series.Count; s++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = SeriesNames[s], LineColor = Colors.Gray, LineWidth = 2, LinePattern = SeriesPatterns[s] });
    }

    /// <summary>The runs of consecutive points that have a value: each is drawn as its own line, so a missing point is a gap.</summary>
    internal static IEnumerable<int[]> Segments(Spread?[] values)
    {
        var segment = new List<int>();
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] is not null) { segment.Add(i); continue; }
            if (segment.Count > 0) yield return [.. segment];
            segment.Clear();
        }
        if (segment.Count > 0) yield return [.. segment];
    }
}
