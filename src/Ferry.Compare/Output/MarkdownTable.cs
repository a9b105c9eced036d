using System.Text;

namespace Ferry.Compare.Output;

/// <summary>table.md: the comparison as a survey of migration techniques prints it, with a legend.</summary>
public static class MarkdownTable
{
    public static string Render(ComparisonReport report)
    {
        var rows = Summary.Of(report);
        var md = new StringBuilder();
        md.Append("# ferry compare: ").AppendLine(Escape(report.Conditions.Workload)).AppendLine();
        if (!report.Complete)
            md.Append("**Incomplete**: ").AppendLine(Escape(report.Interruption ?? "the comparison did not finish")).AppendLine();
        foreach (var (heading, sectionRows) in TableLayout.Sections(report, rows))
        {
            if (heading is not null) md.Append("## ").AppendLine(Escape(heading)).AppendLine();
            AppendTable(md, sectionRows);
            md.AppendLine();
        }
        md.AppendLine(TableLayout.HowToRead).AppendLine();
        foreach (var figure in Figure.All)
            md.Append("- **").Append(figure.Header).Append("**: ").AppendLine(figure.Meaning);
        return md.ToString();
    }

    private static void AppendTable(StringBuilder md, IReadOnlyList<SummaryRow> rows)
    {
        AppendRow(md, TableLayout.Headers);
        AppendRow(md, [.. TableLayout.Headers.Select((_, i) => TableLayout.IsNumeric(i) ? "---:" : "---")]);
        foreach (var row in rows)
            AppendRow(md, [.. TableLayout.Cells(row).Select(Escape)]);
    }

    private static void AppendRow(StringBuilder md, IReadOnlyList<string> cells) =>
        md.Append("| ").AppendJoin(" | ", cells).AppendLine(" |");

    /// <summary>
    /// Errors hold any characters. A pipe would end the cell, and a Markdown viewer renders raw
    /// HTML, so an error's "&lt;script&gt;" must show as text: CommonMark's backslash escapes do
    /// both and still read plainly in a terminal.
    /// </summary>
    internal static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in CellText.OneLine(text))
        {
            if (c is '\\' or '|' or '<' or '>' or '`') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }
}
