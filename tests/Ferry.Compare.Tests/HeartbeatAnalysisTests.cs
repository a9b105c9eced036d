using Ferry.Compare.Measuring;

namespace Ferry.Compare.Tests;

/// <summary>The guest-observed figures from heartbeats: the longest silence and the workload's pace.</summary>
public sealed class HeartbeatAnalysisTests
{
    // Every 10 ms, 10 pages per beat, with a 300 ms silence after 1.0 s (a switchover).
    private static List<Heartbeat> Beats()
    {
        var beats = new List<Heartbeat>();
        long pages = 0, seq = 1;
        for (double t = 0; t <= 2.0; t += 0.01)
        {
            if (t > 1.0 && t < 1.3) continue;
            beats.Add(new Heartbeat(t, seq++, (long)(t * 1e9), pages += 10));
        }
        return beats;
    }

    [Fact]
    public void The_longest_gap_in_a_window_counts_a_silence_that_began_before_it()
    {
        var beats = Beats();
        // The beats around the silence fall at ~1.00 and ~1.31 (the steps add up in floating point).
        Assert.InRange(HeartbeatAnalysis.LongestGapSeconds(beats, 0.5, 2.0)!.Value, 0.29, 0.32);
        // The window opens inside the silence: the last beat before it opens it.
        Assert.InRange(HeartbeatAnalysis.LongestGapSeconds(beats, 1.2, 2.0)!.Value, 0.29, 0.32);
        Assert.Equal(0.01, HeartbeatAnalysis.LongestGapSeconds(beats, 0.0, 0.9)!.Value, 2);
        Assert.Null(HeartbeatAnalysis.LongestGapSeconds([], 0, 1));
    }

    [Fact]
    public void Pace_and_slowdown_come_from_the_page_counter_over_host_time()
    {
        var beats = Beats();
        double before = HeartbeatAnalysis.PagesPerSecond(beats, 0.0, 0.9)!.Value;
        Assert.Equal(1000, before, 0);
        // Over the silence the counter went on by one beat while 300 ms passed.
        double during = HeartbeatAnalysis.PagesPerSecond(beats, 0.9, 1.5)!.Value;
        Assert.True(during < before);
        Assert.Equal(1 - during / before, HeartbeatAnalysis.Slowdown(before, during)!.Value, 6);
        Assert.Null(HeartbeatAnalysis.Slowdown(0, during)); // an idle workload has nothing to slow
    }

    [Theory]
    [InlineData("HB 12 345678 90", true)]
    [InlineData("HB 12 345678", false)]
    [InlineData("memtouch ready mb=16", false)]
    [InlineData("HB x 1 2", false)]
    public void Only_heartbeat_lines_parse(string line, bool parses) =>
        Assert.Equal(parses, Heartbeat.TryParse(line, 1.0, out _));

    [Fact]
    public void Heartbeats_delivered_in_batches_are_placed_back_where_the_guest_printed_them()
    {
        // Printed every 1 ms for 2 s (guest clock = host clock + 5 s), with a 40 ms pause after 1.0 s
        // in which the guest clock stood still; delivered in batches every 200 ms, each batch 3 ms late.
        var truth = new List<(double Host, long GuestNs)>();
        for (int k = 0; k < 2000; k++)
        {
            double host = k / 1000.0 + (k >= 1000 ? 0.040 : 0);
            truth.Add((host, (long)((k / 1000.0 + 5) * 1e9)));
        }
        var arrived = truth.Select((t, k) => new Heartbeat(Math.Ceiling(t.Host / 0.2) * 0.2 + 0.003, k, t.GuestNs, k)).ToList();
        Assert.True(HeartbeatAnalysis.LongestGapSeconds(arrived, 0, 3) > 0.19, "the batches alone look like silences");

        var placed = HeartbeatAnalysis.PlaceByGuestClock(arrived);

        // The last batch came when the stream stopped, not when its last heartbeat was printed:
        // nothing after it arrives promptly, so it is placed late (readers go on reading past their window).
        for (int k = 0; k < truth.Count; k++)
            if (arrived[k].HostSeconds < arrived[^1].HostSeconds) Assert.InRange(placed[k].HostSeconds - truth[k].Host, 0, 0.0045);
            else Assert.True(placed[k].HostSeconds >= truth[k].Host);
        Assert.InRange(HeartbeatAnalysis.LongestGapSeconds(placed, 0, 1.9)!.Value, 0.036, 0.046);
    }
}
