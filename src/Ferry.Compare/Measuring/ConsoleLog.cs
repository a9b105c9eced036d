using System.Globalization;

namespace Ferry.Compare.Measuring;

/// <summary>
/// A guest console log as `ferry compare` and the benchmarks write it: one line per console line,
/// <c>SECONDS TEXT</c>, SECONDS the host's monotonic clock (CLOCK_MONOTONIC) when the line arrived.
/// </summary>
public static class ConsoleLog
{
    /// <summary>The heartbeats of one or more logs, merged in arrival order; lines of another shape are skipped.</summary>
    public static List<Heartbeat> ReadHeartbeats(IEnumerable<string> paths)
    {
        var beats = new List<Heartbeat>();
        foreach (var path in paths)
            foreach (var line in File.ReadLines(path))
            {
                int space = line.IndexOf(' ');
                if (space <= 0 || !double.TryParse(line.AsSpan(0, space), NumberStyles.Float, CultureInfo.InvariantCulture, out double at)) continue;
                if (Heartbeat.TryParse(line[(space + 1)..], at, out var beat)) beats.Add(beat);
            }
        beats.Sort((a, b) => a.HostSeconds.CompareTo(b.HostSeconds));
        return beats;
    }
}
