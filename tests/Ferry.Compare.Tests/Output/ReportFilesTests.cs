using System.Text.Json;
using Ferry.Compare.Output;
using Ferry.Compare.Tests.Infrastructure;

namespace Ferry.Compare.Tests.Output;

public sealed class ReportFilesTests
{
    private static readonly string[] TextFiles = ["table.md", "table.csv", "runs.jsonl", "report.json", "report.html"];
    private static readonly string[] PlotFiles = ["downtime.svg", "downtime.png", "total.svg", "total.png", "bytes.svg", "bytes.png"];

    private static string[] Names(IReadOnlyList<string> paths, string dir) => [.. paths.Select(p => Path.GetRelativePath(dir, p))];

    [Fact]
    public void Writes_the_tables_the_runs_the_report_the_page_and_the_plots()
    {
        using var dir = new TempDir();
        var written = ReportFiles.WriteAll(SampleReports.Swept(), dir.Path);
        Assert.Equal([.. TextFiles.Take(4), .. PlotFiles.Select(f => Path.Combine("plots", f)), "report.html"], Names(written, dir.Path));
        Assert.All(written, p => Assert.True(new FileInfo(p).Length > 0, p));
        PlotsTests.AssertSvg(File.ReadAllText(Path.Combine(dir.Path, "plots", "downtime.svg")));
        PlotsTests.AssertPng(File.ReadAllBytes(Path.Combine(dir.Path, "plots", "bytes.png")));
        Assert.Equal(24, File.ReadAllLines(Path.Combine(dir.Path, "runs.jsonl")).Length);
    }

    [Fact]
    public void Report_json_reads_back_through_CompareJson_to_the_same_report()
    {
        using var dir = new TempDir();
        var report = SampleReports.Swept() with { Complete = false, Interruption = "interrupted (Ctrl-C)" };
        ReportFiles.WriteAll(report, dir.Path);
        string json = File.ReadAllText(Path.Combine(dir.Path, "report.json"));
        Assert.Contains("\n  \"plan\": {", json, StringComparison.Ordinal);
        var back = JsonSerializer.Deserialize(json, CompareJson.Default.ComparisonReport)!;
        Assert.Equal(report.Conditions, back.Conditions);
        Assert.Equal(report.Runs, back.Runs);
        Assert.Equal(report.Plan.Techniques, back.Plan.Techniques);
        Assert.Equal(report.Plan.Sweep!.Variable, back.Plan.Sweep!.Variable);
        Assert.Equal(report.Plan.Sweep.Values, back.Plan.Sweep.Values);
        Assert.Equal(report.Plan with { Techniques = [], Sweep = null }, back.Plan with { Techniques = [], Sweep = null });
        Assert.Equal((report.Complete, report.Interruption, report.ElapsedSeconds), (back.Complete, back.Interruption, back.ElapsedSeconds));
    }

    [Fact]
    public void A_partial_report_is_written_whole()
    {
        using var dir = new TempDir();
        var full = SampleReports.Swept();
        var partial = full with { Runs = [.. full.Runs.Take(5)], Complete = false, Interruption = "the host ran out of memory" };
        var written = ReportFiles.WriteAll(partial, dir.Path);
        Assert.Equal(TextFiles.Length + PlotFiles.Length, written.Count);
        Assert.Contains("| not run |", File.ReadAllText(Path.Combine(dir.Path, "table.md")), StringComparison.Ordinal);
        Assert.Contains("the host ran out of memory", File.ReadAllText(Path.Combine(dir.Path, "report.html")), StringComparison.Ordinal);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(dir.Path, "runs.jsonl")).Length);
    }

    [Fact]
    public void After_each_run_only_the_raw_results_are_written_and_they_read_back()
    {
        using var dir = new TempDir();
        var full = SampleReports.Swept();
        var written = ReportFiles.WriteRaw(full with { Runs = [.. full.Runs.Take(3)], Complete = false }, dir.Path);
        Assert.Equal(["runs.jsonl", "report.json"], Names(written, dir.Path));
        Assert.Equal(["report.json", "runs.jsonl"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var back = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir.Path, "report.json")), CompareJson.Default.ComparisonReport)!;
        Assert.Equal(3, back.Runs.Count);
    }

    [Fact]
    public void A_report_without_a_sweep_is_written_with_its_bar_plots()
    {
        using var dir = new TempDir();
        var written = ReportFiles.WriteAll(SampleReports.Unswept(), dir.Path);
        Assert.Equal(TextFiles.Length + PlotFiles.Length, written.Count);
    }

    [Fact]
    public void A_report_with_no_run_yet_has_no_plots_and_the_rest()
    {
        using var dir = new TempDir();
        var report = SampleReports.Swept() with { Runs = [], Complete = false, Interruption = "cancelled before the first run" };
        var written = ReportFiles.WriteAll(report, dir.Path);
        Assert.Equal(["table.md", "table.csv", "runs.jsonl", "report.json", "report.html"], Names(written, dir.Path));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "plots")));
    }

    [Fact]
    public void Writing_again_replaces_every_file_and_leaves_no_temporary_behind()
    {
        using var dir = new TempDir();
        var full = SampleReports.Swept();
        ReportFiles.WriteAll(full with { Runs = [.. full.Runs.Take(4)] }, dir.Path);
        ReportFiles.WriteAll(full, dir.Path);
        Assert.Equal(24, File.ReadAllLines(Path.Combine(dir.Path, "runs.jsonl")).Length);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
    }
}
