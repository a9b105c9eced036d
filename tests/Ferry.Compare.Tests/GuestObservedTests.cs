using System.Globalization;
using Ferry.Compare.Measuring;

namespace Ferry.Compare.Tests;

/// <summary>The guest-observed figures from console logs as compare and the benchmarks write them.</summary>
public sealed class GuestObservedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-hb-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A log of heartbeats every 10 ms (10 pages each) from <paramref name="from"/> to <paramref name="to"/>, with other lines among them.</summary>
    private string Log(string name, double from, double to, long firstSeq, long firstPages)
    {
        var lines = new List<string> { "100.000000 ferry-guest: ready cpus=1 memory=100 MiB", "garbage without a time" };
        long seq = firstSeq, pages = firstPages;
        for (double t = from; t <= to + 1e-9; t += 0.01)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{t:F6} HB {seq++} {(long)(t * 1e9)} {pages += 10}"));
        string path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void A_switchover_silence_shows_as_the_downtime_less_the_noise_floor()
    {
        // The source beats until 101.0, the destination from 101.25: a 250 ms silence at the switchover.
        var beats = ConsoleLog.ReadHeartbeats([Log("dst", 101.25, 102.0, 102, 1010), Log("src", 99.0, 101.0, 1, 0)]);
        Assert.True(beats.Zip(beats.Skip(1)).All(p => p.First.HostSeconds <= p.Second.HostSeconds));
        var seen = GuestObserved.Of(beats, baselineFrom: 99.5, from: 100.5, end: 101.5, to: 102.0);
        Assert.Equal(250, seen.LongestGapMs!.Value, 0);
        Assert.Equal(0.5, seen.LongestGapAtSeconds!.Value, 2);
        Assert.Equal(10, seen.BaselineGapMs!.Value, 0);
        Assert.Equal(240, seen.DowntimeMs!.Value, 0);
        Assert.Equal(1000, seen.PagesPerSecondBefore!.Value, 0);
        Assert.True(seen.Slowdown > 0.1);
    }

    [Fact]
    public void A_guest_that_never_beat_has_no_figures()
    {
        string empty = Path.Combine(_dir, "empty");
        File.WriteAllLines(empty, ["1.0 ferry-guest: ready"]);
        var seen = GuestObserved.Of(ConsoleLog.ReadHeartbeats([empty]), 0, 1, 2, 3);
        Assert.Null(seen.DowntimeMs);
        Assert.Null(seen.Slowdown);
    }
}
