using System.Globalization;
using System.Net;
using System.Text;

namespace Ferry.Compare.Output;

/// <summary>
/// report.html: the whole comparison on one self-contained page (no external file, script or
/// font, so it can be mailed or attached): conditions and plan on top, the tables, the plots, how
/// long it took. Every text from the report is escaped: an error can hold any characters.
/// </summary>
public static partial class HtmlReport
{
    public static string Render(ComparisonReport report, IReadOnlyList<PlotImage> plots)
    {
        var html = new StringBuilder();
        string title = "ferry compare: " + report.Conditions.Workload;
        html.AppendLine("<!DOCTYPE html>")
            .AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<title>").Append(E(title)).AppendLine("</title>")
            .Append("<style>").Append(Style).AppendLine("</style>")
            .AppendLine("</head><body>")
            .Append("<h1>").Append(E(title)).AppendLine("</h1>");
        if (!report.Complete)
            html.Append("<p class=\"incomplete\"><strong>Incomplete:</strong> ")
                .Append(E(report.Interruption ?? "the comparison did not finish"))
                .Append(". What follows holds the ").Append(report.Runs.Count).AppendLine(" runs measured before.</p>");
        AppendConditions(html, report.Conditions);
        AppendPlan(html, report.Plan);
        AppendTables(html, report);
        AppendPlots(html, plots);
        html.Append("<p class=\"took\">Took ").Append(E(CellText.Duration(report.ElapsedSeconds)))
            .Append(" for ").Append(report.Runs.Count).Append(" runs")
            .Append(report.Complete ? "" : " (so far)").AppendLine(".</p>")
            .AppendLine("</body></html>");
        return html.ToString();
    }

    private static void AppendConditions(StringBuilder html, Conditions c)
    {
        html.AppendLine("<h2>Conditions</h2>");
        AppendFields(html,
        [
            ("host CPU", c.HostCpu),
            ("cores", c.Cores.ToString(CultureInfo.InvariantCulture)),
            ("host kernel", c.HostKernel),
            ("KVM", c.Kvm),
            ("link", c.Link),
            ("shaping", c.Shaping),
            ("guest", c.Guest),
            ("workload", c.Workload),
            ("ferry", c.FerryVersion),
            ("QEMU", c.QemuVersion ?? "—"),
            ("started", c.Started.ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)),
            ("command", c.CommandLine),
        ]);
    }

    private static void AppendPlan(StringBuilder html, ComparisonPlan p)
    {
        var techniques = string.Join(", ", p.Techniques) + (p.PeerQemu ? $"; QEMU's {Summary.QemuPreCopy} and {Summary.QemuPostCopy}" : "");
        var sweep = p.Sweep is { } s ? $"{s.Variable}: {string.Join(", ", s.Values)}" : "none";
        html.AppendLine("<h2>Plan</h2>");
        AppendFields(html,
        [
            ("techniques", techniques),
            ("runs each", p.Runs.ToString(CultureInfo.InvariantCulture)),
            ("bandwidth", p.Bandwidth ?? "no cap"),
            ("max downtime", p.MaxDowntime),
            ("max rounds", p.MaxRounds?.ToString(CultureInfo.InvariantCulture) ?? "ferry's default"),
            ("timeout", p.Timeout),
            ("sweep", sweep),
            ("settle", p.SettleSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s"),
            ("memory", p.Memory),
            ("vCPUs", p.Cpus.ToString(CultureInfo.InvariantCulture)),
            ("kernel", p.Kernel),
            ("initrd", p.Initrd),
            ("workload", p.Workload),
        ]);
    }

    private static void AppendFields(StringBuilder html, IEnumerable<(string Name, string Value)> fields)
    {
        html.AppendLine("<table class=\"fields\">");
        foreach (var (name, value) in fields)
            html.Append("<tr><th>").Append(E(name)).Append("</th><td>").Append(E(value)).AppendLine("</td></tr>");
        html.AppendLine("</table>");
    }

    /// <summary>
    /// Each SVG goes in as a data URI rather than inline markup: inline SVGs share the page's id
    /// space, and ScottPlot's clip-path ids (cl_4, cl_5, …) come from a counter, unique only
    /// among plots drawn by one process; as an image each SVG keeps its ids (and its XML
    /// declaration) to itself.
    /// </summary>
    private static void AppendPlots(StringBuilder html, IReadOnlyList<PlotImage> plots)
    {
        if (plots.Count == 0) return;
        html.AppendLine("<h2>Plots</h2>");
        foreach (var plot in plots)
            html.Append("<figure><img width=\"").Append(Plots.Width).Append("\" height=\"").Append(Plots.Height)
                .Append("\" alt=\"").Append(E(plot.Title)).Append("\" src=\"data:image/svg+xml;base64,")
                .Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(plot.Svg)))
                .Append("\"><figcaption>").Append(E(plot.Title)).AppendLine("</figcaption></figure>");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}" +
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}" +
        "th,td{border:1px solid #ccc;padding:0.25em 0.6em;vertical-align:top}" +
        "th{background:#f4f4f4;text-align:left}" +
        "td.num{text-align:right;white-space:nowrap}" +
        "tr.failed td{background:#fdecea}tr.notrun td{color:#888}" +
        "table.fields th{width:9em}" +
        ".incomplete{background:#fff4ce;border:1px solid #e0c060;padding:0.5em}" +
        "figure{margin:1em 0}img{max-width:100%;height:auto}" +
        "ul.legend{font-size:0.9em}.took{color:#555}";
}
