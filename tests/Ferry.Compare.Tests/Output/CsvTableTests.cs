using Ferry.Compare.Output;
using Ferry.Compare.Tests.Infrastructure;

namespace Ferry.Compare.Tests.Output;

public sealed class CsvTableTests
{
    private static readonly int Columns = 6 + 3 * Figure.All.Count;

    [Fact]
    public void Parses_back_to_a_header_and_a_row_per_point_and_technique_all_of_one_width()
    {
        var records = Csv.Parse(CsvTable.Render(SampleReports.Swept()));
        Assert.Equal(1 + 2 * 6, records.Count);
        Assert.All(records, r => Assert.Equal(Columns, r.Count));
        Assert.Equal(["variable", "point", "technique", "ok_runs", "failed_runs", "first_error", "downtime_ms_median", "downtime_ms_min", "downtime_ms_max"], records[0].Take(9));
        Assert.Equal(Figure.All.Count * 3, records[0].Count(h => h.EndsWith("_median", StringComparison.Ordinal) || h.EndsWith("_min", StringComparison.Ordinal) || h.EndsWith("_max", StringComparison.Ordinal)));
    }

    [Fact]
    public void Figures_are_plain_numbers_in_their_own_unit_and_empty_where_none()
    {
        var records = Csv.Parse(CsvTable.Render(SampleReports.Swept()));
        var header = records[0];
        var cold = records.Single(r => r[1] == "1000" && r[2] == "cold");
        string Field(string name) => cold[header.IndexOf(name)];
        Assert.Equal(["rate", "1000", "cold", "2", "0", ""], cold.Take(6));
        Assert.Equal(("11.5", "11", "12"), (Field("downtime_ms_median"), Field("downtime_ms_min"), Field("downtime_ms_max")));
        Assert.Equal("12058624", Field("bytes_sent_median"));
        Assert.Equal("0.011", Field("slowdown_min"));
        Assert.Equal(("", "", ""), (Field("faults_median"), Field("faults_min"), Field("faults_max")));
    }

    [Fact]
    public void An_error_with_a_comma_and_quotes_is_quoted_and_reads_back_whole()
    {
        string csv = CsvTable.Render(SampleReports.Swept());
        Assert.Contains("\"hybrid broke, \"\"badly\"\" <script>alert(1)</script>\"", csv, StringComparison.Ordinal);
        var hybrid = Csv.Parse(csv).Single(r => r[1] == "10000" && r[2] == "hybrid");
        Assert.Equal(["0", "2", SampleReports.HybridError], hybrid[3..6]);
        Assert.Equal(SampleReports.PreCopyError, Csv.Parse(csv).Single(r => r[1] == "10000" && r[2] == "precopy")[5]);
    }

    [Fact]
    public void Records_end_with_crlf_and_a_line_break_inside_a_field_is_quoted()
    {
        Assert.Equal("\"a\nb\"", CsvTable.Quote("a\nb"));
        Assert.Equal("plain", CsvTable.Quote("plain"));
        string csv = CsvTable.Render(SampleReports.Unswept());
        Assert.EndsWith("\r\n", csv, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', csv.Replace("\r\n", "", StringComparison.Ordinal));
    }
}
