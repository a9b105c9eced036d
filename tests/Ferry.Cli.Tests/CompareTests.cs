using System.Text.Json;
using System.Xml.Linq;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Compare;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// `ferry compare` end to end: real guests booted and migrated by every technique through the
/// published binary, the table with every column, the plots and the report; a technique that
/// fails is a row of its own while the others run; --from-report runs the same plan again.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class CompareTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] Guest = ["--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "128M", "--cpus", "1", "--settle", "1s"];

    private static (int Code, string Stdout, string Stderr) Compare(TimeSpan limit, params string[] args)
    {
        using var p = FerryProcess.Start(["compare", .. args]);
        int code = p.WaitForExit(limit);
        return (code, p.Console.Text, p.Stderr);
    }

    private static ComparisonReport ReadReport(string dir) =>
        JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(dir, "report.json")), CompareJson.Default.ComparisonReport)!;

    [KvmFact]
    public void Every_technique_at_two_sweep_points_gives_every_column_plots_and_a_report()
    {
        string out_ = Path.Combine(_dir, "full");
        var (code, table, stderr) = Compare(TimeSpan.FromMinutes(10), [.. Guest, "--workload", "memtouch --mb 16 --rate 1000", "--runs", "2",
            "--sweep", "rate=500,2000", "--out", out_]);
        Assert.True(code == 0, $"exit {code}\n{stderr}");

        var report = ReadReport(out_);
        Assert.True(report.Complete);
        Assert.Equal(16, report.Runs.Count); // 2 points × 4 techniques × 2 runs
        Assert.All(report.Runs, r => Assert.True(r.Ok, $"{r.Technique} at {r.Point} run {r.Run}: {r.Error}"));
        foreach (var r in report.Runs)
        {
            Assert.NotNull(r.DowntimeMs);
            Assert.NotNull(r.GuestDowntimeMs);
            Assert.True(r.TotalMs > 0);
            Assert.True(r.BytesSent > 0);
            Assert.True(r.BytesPerNonZeroByte > 0);
            Assert.NotNull(r.PagesResent);
            Assert.NotNull(r.Slowdown);
            Assert.NotNull(r.WindowMs);
        }
        // Post-copy's pages cross once, on a fault or by the push; its window is open for a while.
        Assert.All(report.Runs.Where(r => r.Technique == "postcopy"), r => { Assert.NotNull(r.Faults); Assert.True(r.WindowMs > 0); Assert.Equal(0, r.PagesResent); });
        Assert.All(report.Runs.Where(r => r.Technique is "cold" or "precopy"), r => Assert.Equal(0, r.WindowMs));
        // The guest's memory is worth ~16 MiB: no technique sends much less or wildly more.
        Assert.All(report.Runs, r => Assert.InRange(r.BytesSent!.Value, 15L << 20, 400L << 20));
        Assert.Contains("memtouch", report.Conditions.Workload);
        Assert.Equal(Environment.ProcessorCount, report.Conditions.Cores);

        // The table printed and written: a row per technique per point, with every column.
        foreach (var technique in (string[])["cold", "precopy", "postcopy", "hybrid"])
            Assert.Equal(2, table.Split('\n').Count(l => l.StartsWith($"| {technique} ", StringComparison.Ordinal) || l.Contains($"| {technique} |", StringComparison.Ordinal)));
        Assert.Equal(File.ReadAllText(Path.Combine(out_, "table.md")).Trim(), table.Trim());
        Assert.Equal(16, File.ReadAllLines(Path.Combine(out_, "runs.jsonl")).Count(l => l.Trim().Length > 0));
        Assert.True(File.ReadAllLines(Path.Combine(out_, "table.csv")).Length >= 9);

        // Plots: valid SVG and PNG, not empty.
        var svgs = Directory.GetFiles(Path.Combine(out_, "plots"), "*.svg");
        var pngs = Directory.GetFiles(Path.Combine(out_, "plots"), "*.png");
        Assert.True(svgs.Length >= 3, $"{svgs.Length} SVG plots");
        Assert.Equal(svgs.Length, pngs.Length);
        foreach (var svg in svgs)
        {
            Assert.Equal("svg", XDocument.Load(svg).Root!.Name.LocalName);
            Assert.True(new FileInfo(svg).Length > 2000, $"{svg} is nearly empty");
        }
        foreach (var png in pngs)
        {
            var bytes = File.ReadAllBytes(png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            Assert.True(bytes.Length > 5000, $"{png} is nearly empty");
        }
        string html = File.ReadAllText(Path.Combine(out_, "report.html"));
        Assert.Contains("data:image/svg+xml;base64,", html); // the plots inline, nothing loaded from outside
        Assert.Contains(report.Conditions.HostCpu, html);
    }

    [KvmFact]
    public void A_technique_that_fails_is_reported_with_its_error_the_others_run_and_the_report_runs_again()
    {
        // No pre-copy meets a 1 µs pause while the guest writes: it gives up after two rounds, the VM runs on.
        // Writing as fast as it can, so that no round finds little enough dirty to fit (at 1,000 pages/s one round once did, and it switched over).
        string first = Path.Combine(_dir, "first");
        var (code, table, stderr) = Compare(TimeSpan.FromMinutes(5), [.. Guest, "--workload", "memtouch --mb 8 --rate max", "--runs", "1",
            "--techniques", "precopy,postcopy", "--max-downtime", "0.001ms", "--max-rounds", "2", "--out", first]);
        Assert.True(code == 0, $"exit {code}\n{stderr}");
        var report = ReadReport(first);
        var precopy = Assert.Single(report.Runs, r => r.Technique == "precopy");
        Assert.False(precopy.Ok);
        Assert.False(string.IsNullOrWhiteSpace(precopy.Error));
        Assert.True(Assert.Single(report.Runs, r => r.Technique == "postcopy").Ok);
        Assert.Contains("failed", table);
        Assert.Contains(precopy.Error!.Split(':')[0], table);

        string again = Path.Combine(_dir, "again");
        (code, _, stderr) = Compare(TimeSpan.FromMinutes(5), "--from-report", Path.Combine(first, "report.json"), "--out", again);
        Assert.True(code == 0, $"exit {code}\n{stderr}");
        var rerun = ReadReport(again);
        Assert.Equal(report.Plan with { Techniques = [], Sweep = null }, rerun.Plan with { Techniques = [], Sweep = null });
        Assert.Equal(report.Plan.Techniques, rerun.Plan.Techniques);
        Assert.Equal(report.Conditions.Guest, rerun.Conditions.Guest);
        Assert.Equal(report.Conditions.Workload, rerun.Conditions.Workload);
        Assert.Equal(report.Conditions.CommandLine.Replace(first, again), rerun.Conditions.CommandLine);
        Assert.Equal(2, rerun.Runs.Count);
    }

    [KvmFact]
    public void An_interrupted_comparison_stops_after_the_run_in_progress_and_keeps_what_it_measured()
    {
        string out_ = Path.Combine(_dir, "interrupted");
        using var p = FerryProcess.Start(["compare", .. Guest, "--workload", "memtouch --mb 8 --rate 1000", "--runs", "2", "--techniques", "precopy,postcopy", "--out", out_]);
        // Stopped once the first run has finished: the comparison stops after the one in progress.
        // SIGTERM, as a supervisor would: a job a non-interactive shell starts in the background
        // (CI's, for one) inherits SIGINT ignored, so a Ctrl-C could not be simulated there.
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (!p.Stderr.Contains("[1/4] precopy run 1: ") && DateTime.UtcNow < deadline && !p.HasExited) Thread.Sleep(50);
        using (var interrupt = System.Diagnostics.Process.Start("kill", ["-TERM", p.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])) interrupt.WaitForExit();
        int code = p.WaitForExit(TimeSpan.FromMinutes(3));

        Assert.True(code == 130, $"exit {code}\n{p.Stderr}");
        var report = ReadReport(out_);
        Assert.False(report.Complete);
        Assert.Contains("interrupted after", report.Interruption);
        Assert.InRange(report.Runs.Count, 1, 2); // post-copy never ran: its row says so
        Assert.All(report.Runs, r => Assert.True(r.Ok, r.Error));
        Assert.Contains("not run", File.ReadAllText(Path.Combine(out_, "table.md")) + File.ReadAllText(Path.Combine(out_, "report.html")));
        // Every VM it started is gone.
        Assert.DoesNotContain("cmp", FerryProcess.Run("list").Stdout);
    }

    [Theory]
    [InlineData("--techniques", "cold,warp", "warp is not one of")]
    [InlineData("--sweep", "speed=1,2", "sweep rate, mb or bandwidth")]
    [InlineData("--sweep", "rate=fast", "--sweep rate=fast")]
    [InlineData("--runs", "0", "--runs 0")]
    [InlineData("--bandwidth", "lots", "--bandwidth lots")]
    [InlineData("--from", "h1", "give both --from HOST and --to HOST")]
    public void Bad_options_are_refused_in_one_line_before_any_vm_starts(string option, string value, string words)
    {
        var (code, _, stderr) = FerryProcess.Run(["compare", .. Guest, "--workload", "memtouch", option, value, "--out", Path.Combine(_dir, "bad")]);
        Assert.Equal(2, code);
        Assert.Contains(words, stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));
    }

    [Fact]
    public void Heartbeats_prints_the_guest_observed_figures_of_console_logs()
    {
        // The bench's and compare's log format: "SECONDS TEXT". A 200 ms silence at 2.0 s.
        string log = Path.Combine(_dir, "console.log");
        var lines = new List<string>();
        for (int i = 0; i <= 300; i++)
            if (i <= 200 || i >= 220) lines.Add(FormattableString.Invariant($"{i / 100.0:F6} HB {i + 1} {i * 10_000_000L} {i * 5}"));
        File.WriteAllLines(log, lines);
        var (code, stdout, stderr) = FerryProcess.Run("heartbeats", log, "--from", "1.5", "--end", "2.5", "--baseline-from", "0.5");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(200, json.GetProperty("longest_gap_ms").GetDouble(), 0);
        Assert.Equal(10, json.GetProperty("baseline_gap_ms").GetDouble(), 0);
        Assert.Equal(190, json.GetProperty("downtime_ms").GetDouble(), 0);
        Assert.Equal(500, json.GetProperty("pages_per_second_before").GetDouble(), 0);

        (code, _, stderr) = FerryProcess.Run("heartbeats", Path.Combine(_dir, "none.log"), "--from", "1", "--end", "2");
        Assert.Equal(2, code);
        Assert.Contains("no such file", stderr);
    }

    [Fact]
    public void A_missing_report_is_refused_in_one_line()
    {
        var (code, _, stderr) = FerryProcess.Run("compare", "--from-report", Path.Combine(_dir, "nothing.json"));
        Assert.Equal(2, code);
        Assert.Contains("no such file", stderr);
    }
}
