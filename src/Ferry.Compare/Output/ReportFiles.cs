using System.Text.Json;

namespace Ferry.Compare.Output;

/// <summary>
/// Writes everything a user reads of a comparison into one directory: the raw results after every
/// run (<see cref="WriteRaw"/>), everything at the end (<see cref="WriteAll"/>). Each file is
/// replaced whole (written beside it, then renamed): a comparison killed mid-write leaves the
/// previous complete file, never half of one.
/// </summary>
public static class ReportFiles
{
    /// <summary>
    /// table.md, table.csv, runs.jsonl, report.json, report.html, and plots/NAME.svg and .png when
    /// any run went well. Returns the paths written, in that order.
    /// </summary>
    public static IReadOnlyList<string> WriteAll(ComparisonReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>();
        void Write(string name, string text) => written.Add(Replace(Path.Combine(dir, name), path => File.WriteAllText(path, text)));

        Write("table.md", MarkdownTable.Render(report));
        Write("table.csv", CsvTable.Render(report));
        written.AddRange(WriteRaw(report, dir));
        var plots = Plots.Render(report);
        if (plots.Count > 0)
        {
            string plotDir = Path.Combine(dir, "plots");
            Directory.CreateDirectory(plotDir);
            foreach (var plot in plots)
            {
                written.Add(Replace(Path.Combine(plotDir, plot.Name + ".svg"), path => File.WriteAllText(path, plot.Svg)));
                written.Add(Replace(Path.Combine(plotDir, plot.Name + ".png"), path => File.WriteAllBytes(path, plot.Png)));
            }
        }
        Write("report.html", HtmlReport.Render(report, plots));
        return written;
    }

    /// <summary>
    /// runs.jsonl and report.json only: cheap enough to write after every run (the tables, plots
    /// and HTML wait for the end), and all a killed comparison needs: `ferry compare
    /// --from-report` reads the plan back, and the raw runs are there.
    /// </summary>
    public static IReadOnlyList<string> WriteRaw(ComparisonReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        return
        [
            Replace(Path.Combine(dir, "runs.jsonl"), path => File.WriteAllText(path, RunLines.Render(report.Runs))),
            Replace(Path.Combine(dir, "report.json"), path => File.WriteAllText(path, JsonSerializer.Serialize(report, CompareJson.Default.ComparisonReport))),
        ];
    }

    private static string Replace(string path, Action<string> write)
    {
        string temporary = path + ".tmp";
        write(temporary);
        File.Move(temporary, path, overwrite: true);
        return path;
    }
}
