using System.Text.RegularExpressions;
using Ferry.Compare.Output;
using Ferry.Compare.Tests.Infrastructure;

namespace Ferry.Compare.Tests.Output;

public sealed partial class MarkdownTableTests
{
    // A cell ends at a pipe that no backslash escapes.
    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex CellSeparator();

    private static string[] Cells(string line) => [.. CellSeparator().Split(line.Trim())[1..^1].Select(c => c.Trim())];

    /// <summary>The table rows of each "## " section, by section heading.</summary>
    private static Dictionary<string, List<string[]>> Sections(string markdown)
    {
        var sections = new Dictionary<string, List<string[]>>();
        List<string[]>? current = null;
        foreach (var line in markdown.Split('\n'))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal)) sections[line[3..].Trim()] = current = [];
            else if (line.StartsWith('|') && current is not null) current.Add(Cells(line));
        }
        return sections;
    }

    [Fact]
    public void Each_sweep_point_has_a_table_with_a_row_per_technique_and_every_column()
    {
        var sections = Sections(MarkdownTable.Render(SampleReports.Swept()));
        Assert.Equal(["rate = 1000 pages/s", "rate = 10000 pages/s"], sections.Keys);
        foreach (var rows in sections.Values)
        {
            Assert.Equal(["technique", "ok runs", .. Figure.All.Select(f => f.Header), "notes"], rows[0]);
            Assert.Equal(SampleReports.AllTechniques, rows.Skip(2).Select(r => r[0]));
            Assert.All(rows, r => Assert.Equal(Figure.All.Count + 3, r.Length));
        }
    }

    [Fact]
    public void Cells_show_median_min_and_max_with_units_and_a_dash_where_a_figure_does_not_apply()
    {
        var cold = Sections(MarkdownTable.Render(SampleReports.Swept()))["rate = 1000 pages/s"].Single(r => r[0] == "cold");
        string Cell(Figure f) => cold[2 + Figure.All.ToList().IndexOf(f)];
        Assert.Equal("2 of 2", cold[1]);
        Assert.Equal("11.5 ms (11.0–12.0)", Cell(Figure.Downtime));
        Assert.Equal("1150 ms (1100–1200)", Cell(Figure.Total));
        Assert.Equal("11.5 MiB (11.0–12.0)", Cell(Figure.BytesSent));
        Assert.Equal("1.01", Cell(Figure.BytesPerNonZero));
        Assert.Equal("—", Cell(Figure.Faults));
        Assert.Equal("—", Cell(Figure.FaultP99));
        Assert.Equal("0.0 ms", Cell(Figure.Window));
        Assert.Equal("", cold[^1]);
    }

    [Fact]
    public void Failed_rows_say_how_many_failed_and_the_first_error_escaped()
    {
        var markdown = MarkdownTable.Render(SampleReports.Swept());
        var sections = Sections(markdown);
        var hybrid = sections["rate = 1000 pages/s"].Single(r => r[0] == "hybrid");
        Assert.Equal("0 of 2", hybrid[1]);
        Assert.Equal("failed: hybrid broke, \"badly\" \\<script\\>alert(1)\\</script\\>", hybrid[^1]);
        Assert.All(hybrid[2..^1], c => Assert.Equal("", c));
        var precopy = sections["rate = 10000 pages/s"].Single(r => r[0] == "precopy");
        Assert.Equal("1 of 2", precopy[1]);
        Assert.Equal("1 of 2 failed: destination said no", precopy[^1]);
        // Its one ok run: no range to show.
        Assert.Equal("12.1%", precopy[2 + Figure.All.ToList().IndexOf(Figure.Slowdown)]);
        Assert.DoesNotContain("<script>", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pipe_in_an_error_does_not_split_the_row()
    {
        var report = SampleReports.Unswept();
        report = report with { Runs = [.. report.Runs.Select(r => r.Ok ? r : r with { Error = "a | b" })] };
        var row = MarkdownTable.Render(report).Split('\n').Single(l => l.StartsWith("| hybrid ", StringComparison.Ordinal));
        Assert.Equal(Figure.All.Count + 3, Cells(row).Length);
        Assert.EndsWith("failed: a \\| b", Cells(row)[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void The_legend_says_what_every_column_means()
    {
        var markdown = MarkdownTable.Render(SampleReports.Swept());
        foreach (var figure in Figure.All)
            Assert.Contains($"- **{figure.Header}**: {figure.Meaning}", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_sweep_there_is_one_table_and_no_sections()
    {
        var markdown = MarkdownTable.Render(SampleReports.Unswept());
        Assert.DoesNotContain("\n## ", markdown, StringComparison.Ordinal);
        Assert.Equal(6 + 2, markdown.Split('\n').Count(l => l.StartsWith('|')));
    }

    [Fact]
    public void A_partial_report_says_so_and_marks_what_did_not_run()
    {
        var full = SampleReports.Swept();
        var markdown = MarkdownTable.Render(full with { Runs = [.. full.Runs.Take(3)], Complete = false, Interruption = "interrupted (Ctrl-C)" });
        Assert.Contains("**Incomplete**: interrupted (Ctrl-C)", markdown, StringComparison.Ordinal);
        Assert.Contains("| not run |", markdown, StringComparison.Ordinal);
    }
}
