using System.Net;
using System.Text;

namespace Ferry.Compare.Output;

public static partial class HtmlReport
{
    /// <summary>The same sections, rows and cells as table.md, as HTML tables, with the legend.</summary>
    private static void AppendTables(StringBuilder html, ComparisonReport report)
    {
        var rows = Summary.Of(report);
        html.AppendLine("<h2>Results</h2>");
        foreach (var (heading, sectionRows) in TableLayout.Sections(report, rows))
        {
            if (heading is not null) html.Append("<h3>").Append(E(heading)).AppendLine("</h3>");
            html.AppendLine("<table class=\"results\">").Append("<tr>");
            foreach (var header in TableLayout.Headers) html.Append("<th>").Append(E(header)).Append("</th>");
            html.AppendLine("</tr>");
            foreach (var row in sectionRows)
            {
                html.Append(row.AllFailed ? "<tr class=\"failed\">" : row.NotRun ? "<tr class=\"notrun\">" : "<tr>");
                var cells = TableLayout.Cells(row);
                for (int i = 0; i < cells.Count; i++)
                    html.Append(TableLayout.IsNumeric(i) ? "<td class=\"num\">" : "<td>").Append(E(cells[i])).Append("</td>");
                html.AppendLine("</tr>");
            }
            html.AppendLine("</table>");
        }
        html.Append("<p>").Append(E(TableLayout.HowToRead)).AppendLine("</p>").AppendLine("<ul class=\"legend\">");
        foreach (var figure in Figure.All)
            html.Append("<li><strong>").Append(E(figure.Header)).Append("</strong>: ").Append(E(figure.Meaning)).AppendLine("</li>");
        html.AppendLine("</ul>");
    }
}
