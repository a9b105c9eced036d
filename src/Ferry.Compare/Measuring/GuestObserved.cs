namespace Ferry.Compare.Measuring;

/// <summary>
/// What the guest's heartbeats say about one migration: the longest silence from its start
/// (<paramref name="From"/>) until a while after its end (<paramref name="To"/>) against the
/// longest silence before it (the noise floor, from <paramref name="BaselineFrom"/>), and the
/// workload's pace before and during. Host seconds throughout.
/// </summary>
public sealed record GuestObserved(double BaselineFrom, double From, double End, double To)
{
    public double? LongestGapMs { get; private init; }
    /// <summary>When the longest silence began, in seconds after <see cref="From"/>.</summary>
    public double? LongestGapAtSeconds { get; private init; }
    public double? BaselineGapMs { get; private init; }
    /// <summary>The longest silence less the noise floor: the downtime as the guest's clients saw it.</summary>
    public double? DowntimeMs => LongestGapMs is { } g && BaselineGapMs is { } b ? Math.Round(g - b, 2) : null;
    public double? PagesPerSecondBefore { get; private init; }
    public double? PagesPerSecondDuring { get; private init; }
    public double? Slowdown => HeartbeatAnalysis.Slowdown(PagesPerSecondBefore, PagesPerSecondDuring);

    /// <param name="end">When the migration ended (its pace is measured up to here).</param>
    /// <param name="to">Until when silences count (a little after the end, so the destination's first heartbeats are in).</param>
    public static GuestObserved Of(IReadOnlyList<Heartbeat> heartbeats, double baselineFrom, double from, double end, double to)
    {
        var (gap, at) = HeartbeatAnalysis.LongestGap(heartbeats, from, to);
        return new GuestObserved(baselineFrom, from, end, to)
        {
            LongestGapMs = gap is { } g ? Math.Round(g * 1000, 2) : null,
            LongestGapAtSeconds = at is { } a ? Math.Round(a - from, 3) : null,
            BaselineGapMs = HeartbeatAnalysis.LongestGapSeconds(heartbeats, baselineFrom, from) is { } b ? Math.Round(b * 1000, 2) : null,
            PagesPerSecondBefore = HeartbeatAnalysis.PagesPerSecond(heartbeats, baselineFrom, from),
            PagesPerSecondDuring = HeartbeatAnalysis.PagesPerSecond(heartbeats, from, end),
        };
    }
}
