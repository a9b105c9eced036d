using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Ferry.Compare.Output;
using Ferry.Compare.Tests.Infrastructure;

namespace Ferry.Compare.Tests.Output;

public sealed partial class HtmlReportTests
{
    [GeneratedRegex("src=\"data:image/svg\\+xml;base64,([A-Za-z0-9+/=]+)\"")]
    private static partial Regex InlineSvg();

    private static string Render(ComparisonReport report) => HtmlReport.Render(report, Plots.Render(report));

    [Fact]
    public void Shows_every_condition_and_the_plan()
    {
        var report = SampleReports.Swept();
        string html = Render(report);
        var c = report.Conditions;
        foreach (string value in (string[])[c.HostCpu, c.HostKernel, c.Kvm, c.Link, c.Shaping, c.Guest, c.Workload, c.FerryVersion, c.QemuVersion!, c.CommandLine, "2026-12-03 07:47:58 +00:00"])
            Assert.Contains(WebUtility.HtmlEncode(value), html, StringComparison.Ordinal);
        Assert.Contains("AMD EPYC 7B13 &amp; friends", html, StringComparison.Ordinal);
        Assert.Contains("<th>cores</th><td>2</td>", html, StringComparison.Ordinal);
        Assert.Contains("<th>techniques</th><td>cold, precopy, postcopy, hybrid; QEMU&#39;s qemu-precopy and qemu-postcopy</td>", html, StringComparison.Ordinal);
        Assert.Contains("<th>runs each</th><td>2</td>", html, StringComparison.Ordinal);
        Assert.Contains("<th>bandwidth</th><td>1Gbit</td>", html, StringComparison.Ordinal);
        Assert.Contains("<th>max downtime</th><td>50ms</td>", html, StringComparison.Ordinal);
        Assert.Contains("<th>sweep</th><td>rate: 1000, 10000</td>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Has_the_table_with_the_same_cells_as_the_markdown()
    {
        string html = Render(SampleReports.Swept());
        Assert.Equal(2, Regex.Count(html, "<table class=\"results\">"));
        Assert.Contains("<h3>rate = 10000 pages/s</h3>", html, StringComparison.Ordinal);
        Assert.Contains("<tr><td>cold</td><td class=\"num\">2 of 2</td><td class=\"num\">11.5 ms (11.0–12.0)</td>", html, StringComparison.Ordinal);
        Assert.Contains("1 of 2 failed: destination said no", html, StringComparison.Ordinal);
        foreach (var figure in Figure.All)
            Assert.Contains(WebUtility.HtmlEncode(figure.Meaning), html, StringComparison.Ordinal);
    }

    [Fact]
    public void Escapes_a_script_in_an_error()
    {
        string html = Render(SampleReports.Swept());
        Assert.Contains("<tr class=\"failed\"><td>hybrid</td>", html, StringComparison.Ordinal);
        Assert.Contains("failed: hybrid broke, &quot;badly&quot; &lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Carries_its_plots_inline_and_nothing_from_outside()
    {
        string html = Render(SampleReports.Swept());
        var svgs = InlineSvg().Matches(html);
        Assert.Equal(3, svgs.Count);
        foreach (Match svg in svgs)
            PlotsTests.AssertSvg(Encoding.UTF8.GetString(Convert.FromBase64String(svg.Groups[1].Value)));
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Says_how_long_it_took()
    {
        Assert.Contains("Took 12 min 34 s for 24 runs.", Render(SampleReports.Swept()), StringComparison.Ordinal);
    }

    [Fact]
    public void A_partial_report_says_it_is_incomplete_and_why()
    {
        var full = SampleReports.Swept();
        string html = Render(full with { Runs = [.. full.Runs.Take(7)], Complete = false, Interruption = "interrupted <Ctrl-C>" });
        Assert.Contains("<strong>Incomplete:</strong> interrupted &lt;Ctrl-C&gt;. What follows holds the 7 runs measured before.", html, StringComparison.Ordinal);
        Assert.Contains("(so far)", html, StringComparison.Ordinal);
        Assert.Contains("<tr class=\"notrun\"><td>qemu-postcopy</td>", html, StringComparison.Ordinal);
    }
}
