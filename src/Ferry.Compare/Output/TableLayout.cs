namespace Ferry.Compare.Output;

/// <summary>
/// How the Markdown and HTML tables cut a summary: one section per sweep point (a table of a
/// dozen columns is wide enough without a point column), one row per technique, and the same
/// headers and cells in both.
/// </summary>
internal static class TableLayout
{
    public static IReadOnlyList<string> Headers { get; } = ["technique", "ok runs", .. Figure.All.Select(f => f.Header), "notes"];

    /// <summary>Columns whose cells are numbers, right-aligned.</summary>
    public static bool IsNumeric(int column) => column >= 1 && column <= Figure.All.Count + 1;

    /// <summary>Each point's heading (null without a sweep) and its rows, in plan order.</summary>
    public static IEnumerable<(string? Heading, IReadOnlyList<SummaryRow> Rows)> Sections(ComparisonReport report, IReadOnlyList<SummaryRow> rows)
    {
        var sweep = report.Plan.Sweep;
        foreach (var point in Summary.Points(report))
        {
            string? heading = sweep is null && point is null ? null : SweepAxis.Heading(sweep?.Variable ?? "point", point);
            yield return (heading, [.. rows.Where(r => r.Point == point)]);
        }
    }

    public static IReadOnlyList<string> Cells(SummaryRow row) =>
        [row.Technique, CellText.OkRuns(row), .. Figure.All.Select(f => FigureCell(row, f)), CellText.Notes(row)];

    // A row with no ok run has no figures to show; its notes say why, and "—" would wrongly
    // claim the figure does not apply to the technique.
    private static string FigureCell(SummaryRow row, Figure figure) => row.OkRuns == 0 ? "" : CellText.Of(row[figure], figure.Unit);

    /// <summary>The line under the tables that says how to read a cell.</summary>
    public const string HowToRead =
        "Each cell: median (min–max) over the ok runs; — : the figure does not apply to the technique or was not measured.";
}
