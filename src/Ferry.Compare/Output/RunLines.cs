using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Compare.Output;

/// <summary>
/// runs.jsonl: every run as measured, one compact JSON object a line, for jq and pandas. Same
/// names as report.json (CompareJson), but not indented: a line per run is the format.
/// </summary>
public static class RunLines
{
    // A copy of CompareJson's options keeps its naming and null rules and its source-generated
    // resolver (so this works in the NativeAOT binary); only the indentation differs.
    private static readonly JsonTypeInfo<RunResult> Compact = (JsonTypeInfo<RunResult>)
        new JsonSerializerOptions(CompareJson.Default.Options) { WriteIndented = false }.GetTypeInfo(typeof(RunResult));

    public static string Render(IEnumerable<RunResult> runs)
    {
        var lines = new StringBuilder();
        foreach (var run in runs)
            lines.Append(JsonSerializer.Serialize(run, Compact)).Append('\n');
        return lines.ToString();
    }
}
