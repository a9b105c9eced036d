using System.Globalization;
using System.Text;

namespace Ferry.Compare.Output;

/// <summary>
/// table.csv: the summary for spreadsheets and scripts, one row per (point, technique). Numbers in
/// the figure's own unit (ms, bytes, µs, slowdown as 0..1), round-trip precision, empty where
/// there is none; RFC 4180 (CRLF, fields with a comma, quote or line break quoted).
/// </summary>
public static class CsvTable
{
    public static string Render(ComparisonReport report)
    {
        var csv = new StringBuilder();
        IEnumerable<string> header = ["variable", "point", "technique", "ok_runs", "failed_runs", "first_error",
            .. Figure.All.SelectMany(f => (string[])[$"{f.Key}_median", $"{f.Key}_min", $"{f.Key}_max"])];
        AppendRecord(csv, header);
        string variable = report.Plan.Sweep?.Variable ?? "";
        foreach (var row in Summary.Of(report))
        {
            IEnumerable<string> fields = [variable, row.Point ?? "", row.Technique,
                row.OkRuns.ToString(CultureInfo.InvariantCulture), row.FailedRuns.ToString(CultureInfo.InvariantCulture), row.FirstError ?? "",
                .. Figure.All.SelectMany(f => row[f] is { } s ? (string[])[Number(s.Median), Number(s.Min), Number(s.Max)] : ["", "", ""])];
            AppendRecord(csv, fields);
        }
        return csv.ToString();
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static void AppendRecord(StringBuilder csv, IEnumerable<string> fields)
    {
        bool first = true;
        foreach (string field in fields)
        {
            if (!first) csv.Append(',');
            first = false;
            csv.Append(Quote(field));
        }
        csv.Append("\r\n");
    }

    internal static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
