using System.Text.Json;
using Ferry.Compare.Output;
using Ferry.Compare.Tests.Infrastructure;

namespace Ferry.Compare.Tests.Output;

public sealed class RunLinesTests
{
    [Fact]
    public void Each_run_is_one_compact_json_object_on_its_own_line()
    {
        var report = SampleReports.Swept();
        string[] lines = RunLines.Render(report.Runs).Split('\n');
        Assert.Equal("", lines[^1]);
        Assert.Equal(report.Runs.Count, lines.Length - 1);
        for (int i = 0; i < report.Runs.Count; i++)
        {
            using var json = JsonDocument.Parse(lines[i]);
            Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
            Assert.Equal(report.Runs[i].Technique, json.RootElement.GetProperty("technique").GetString());
            Assert.DoesNotContain("  ", lines[i], StringComparison.Ordinal);
            Assert.Equal(report.Runs[i], JsonSerializer.Deserialize(lines[i], CompareJson.Default.RunResult));
        }
    }

    [Fact]
    public void Lines_use_report_json_names_and_leave_out_what_is_null()
    {
        var line = RunLines.Render([SampleReports.Failed("hybrid", "1000", 2, "no")]).TrimEnd('\n');
        Assert.Equal("""{"technique":"hybrid","point":"1000","run":2,"ok":false,"error":"no"}""", line);
    }

    [Fact]
    public void No_runs_is_an_empty_file() => Assert.Equal("", RunLines.Render([]));
}
