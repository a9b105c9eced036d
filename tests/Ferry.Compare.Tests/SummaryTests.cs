using Ferry.Compare.Tests.Infrastructure;

namespace Ferry.Compare.Tests;

public sealed class SummaryTests
{
    private static SummaryRow Row(IReadOnlyList<SummaryRow> rows, string? point, string technique) =>
        Assert.Single(rows, r => r.Point == point && r.Technique == technique);

    [Fact]
    public void Rows_follow_the_sweep_then_the_plan_then_the_qemu_peers()
    {
        var report = SampleReports.Swept();
        // Runs arrive in any order (qemu first here); the table must not.
        report = report with { Runs = [.. report.Runs.OrderByDescending(r => r.Technique.StartsWith("qemu", StringComparison.Ordinal)).ThenByDescending(r => r.Point)] };
        var rows = Summary.Of(report);
        Assert.Equal(
            SampleReports.Points.SelectMany(p => SampleReports.AllTechniques.Select(t => (p, t))),
            rows.Select(r => (r.Point!, r.Technique)));
    }

    [Fact]
    public void Figures_are_median_min_and_max_over_the_ok_runs()
    {
        var rows = Summary.Of(SampleReports.Swept());
        var cold = Row(rows, "1000", "cold");
        Assert.Equal((2, 0, (string?)null), (cold.OkRuns, cold.FailedRuns, cold.FirstError));
        Assert.Equal(new Spread(11.5, 11, 12), cold[Figure.Downtime]);
        Assert.Equal(new Spread(16.5, 16, 17), cold[Figure.GuestDowntime]);
        Assert.Equal(new Spread(1150, 1100, 1200), cold[Figure.Total]);
        Assert.Equal(new Spread(11.5 * (1 << 20), 11 << 20, 12 << 20), cold[Figure.BytesSent]);
        Assert.Equal(new Spread(0, 0, 0), cold[Figure.Window]);

        var postcopy = Row(rows, "10000", "postcopy");
        Assert.Equal(new Spread(131.5, 131, 132), postcopy[Figure.Faults]);
        var p50 = postcopy[Figure.FaultP50]!.Value;
        Assert.Equal((13.15, 13.1, 13.2), (Math.Round(p50.Median, 9), Math.Round(p50.Min, 9), Math.Round(p50.Max, 9)));
    }

    [Fact]
    public void A_figure_that_does_not_apply_is_null_not_zero()
    {
        var cold = Row(Summary.Of(SampleReports.Swept()), "1000", "cold");
        Assert.Null(cold[Figure.Faults]);
        Assert.Null(cold[Figure.FaultP99]);
        Assert.Null(cold[Figure.PagesResent]);
    }

    [Fact]
    public void A_failed_run_is_counted_and_left_out_of_the_figures()
    {
        var precopy = Row(Summary.Of(SampleReports.Swept()), "10000", "precopy");
        Assert.Equal((1, 1, SampleReports.PreCopyError), (precopy.OkRuns, precopy.FailedRuns, precopy.FirstError));
        Assert.Equal(new Spread(121, 121, 121), precopy[Figure.Downtime]);
    }

    [Fact]
    public void A_technique_that_always_failed_has_its_first_error_and_no_figures()
    {
        var report = SampleReports.Swept();
        // The first failure is the lowest run number, whatever order the runs were written in.
        report = report with { Runs = [.. report.Runs.Select(r => r.Technique == "hybrid" && r.Run == 2 ? r with { Error = "second" } : r).Reverse()] };
        var hybrid = Row(Summary.Of(report), "1000", "hybrid");
        Assert.True(hybrid.AllFailed);
        Assert.Equal((0, 2, SampleReports.HybridError), (hybrid.OkRuns, hybrid.FailedRuns, hybrid.FirstError));
        Assert.All(hybrid.Figures, Assert.Null);
    }

    [Fact]
    public void A_partial_report_has_rows_for_what_did_not_run_yet()
    {
        var full = SampleReports.Swept();
        var partial = full with { Runs = [.. full.Runs.Take(5)], Complete = false, Interruption = "interrupted (Ctrl-C)" };
        var rows = Summary.Of(partial);
        Assert.Equal(12, rows.Count);
        Assert.True(Row(rows, "10000", "qemu-postcopy").NotRun);
        Assert.Equal(1, Row(rows, "1000", "postcopy").OkRuns);
    }

    [Fact]
    public void Without_qemu_peers_there_are_no_qemu_rows()
    {
        var report = SampleReports.Unswept();
        report = report with { Plan = report.Plan with { PeerQemu = false }, Runs = [.. report.Runs.Where(r => !r.Technique.StartsWith("qemu", StringComparison.Ordinal))] };
        Assert.Equal(["cold", "precopy", "postcopy", "hybrid"], Summary.Of(report).Select(r => r.Technique));
    }

    [Fact]
    public void A_value_that_is_not_finite_counts_as_not_measured()
    {
        var report = SampleReports.Unswept();
        report = report with { Runs = [.. report.Runs.Select(r => r.Technique == "cold" && r.Run == 1 ? r with { DowntimeMs = double.NaN, TotalMs = double.PositiveInfinity } : r)] };
        var cold = Row(Summary.Of(report), null, "cold");
        Assert.Equal(new Spread(12, 12, 12), cold[Figure.Downtime]);
        Assert.Equal(new Spread(1200, 1200, 1200), cold[Figure.Total]);
    }

    [Theory]
    [InlineData(new double[] { 3 }, 3, 3, 3)]
    [InlineData(new double[] { 3, 1, 2 }, 2, 1, 3)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 2.5, 1, 4)]
    public void Spread_takes_the_middle_value_or_the_mean_of_the_middle_two(double[] values, double median, double min, double max) =>
        Assert.Equal(new Spread(median, min, max), Spread.Of(values));

    [Fact]
    public void Spread_of_nothing_is_null() => Assert.Null(Spread.Of([]));
}
