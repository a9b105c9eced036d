namespace Ferry.Compare;

/// <summary>
/// Groups a report's runs by (point, technique) in the plan's order: sweep values as written, then
/// Ferry's techniques as planned, then QEMU's peer rows. Every planned pair gets a row even before
/// it ran, so a partial report shows what is missing instead of hiding it.
/// </summary>
public static class Summary
{
    public const string QemuPreCopy = "qemu-precopy";
    public const string QemuPostCopy = "qemu-postcopy";

    public static IReadOnlyList<SummaryRow> Of(ComparisonReport report)
    {
        var runs = report.Runs;
        var rows = new List<SummaryRow>();
        foreach (string? point in Points(report))
            foreach (string technique in Techniques(report))
            {
                var group = runs.Where(r => r.Point == point && r.Technique == technique).OrderBy(r => r.Run).ToList();
                var ok = group.Where(r => r.Ok).ToList();
                rows.Add(new SummaryRow
                {
                    Point = point,
                    Technique = technique,
                    OkRuns = ok.Count,
                    FailedRuns = group.Count - ok.Count,
                    FirstError = group.FirstOrDefault(r => !r.Ok) is { } failed ? failed.Error ?? "no error given" : null,
                    // A NaN or infinity is a measurement that went wrong, not a value: it would
                    // poison the median and the plots' axes.
                    Figures = [.. Figure.All.Select(f => Spread.Of(ok.Select(f.Of).OfType<double>().Where(double.IsFinite)))],
                });
            }
        return rows;
    }

    /// <summary>The sweep's values in their order (one null point without a sweep), then any point a run names that the plan does not.</summary>
    public static IReadOnlyList<string?> Points(ComparisonReport report)
    {
        List<string?> points = report.Plan.Sweep is { Values.Count: > 0 } sweep ? [.. sweep.Values] : [null];
        foreach (var run in report.Runs)
            if (!points.Contains(run.Point)) points.Add(run.Point);
        return points;
    }

    /// <summary>The plan's techniques, the QEMU rows when asked for (or run), then any technique a run names that the plan does not.</summary>
    public static IReadOnlyList<string> Techniques(ComparisonReport report)
    {
        List<string> techniques = [.. report.Plan.Techniques];
        var peers = new[] { QemuPreCopy, QemuPostCopy }.Where(p => report.Plan.PeerQemu || report.Runs.Any(r => r.Technique == p));
        foreach (string technique in peers.Concat(report.Runs.Select(r => r.Technique)))
            if (!techniques.Contains(technique)) techniques.Add(technique);
        return techniques;
    }
}
