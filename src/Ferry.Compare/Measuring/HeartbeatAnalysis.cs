namespace Ferry.Compare.Measuring;

/// <summary>
/// What the guest's heartbeats say about a migration, as its clients would see it: the longest
/// silence (guest-observed downtime) and how fast the workload went (its slowdown). Heartbeats are
/// judged by when they reached the host, not by the guest's clock, which stands still while the
/// VM is paused. The benchmarks (bench/) get the same figures from `ferry heartbeats`, so there is
/// one definition of them.
/// </summary>
public static class HeartbeatAnalysis
{
    /// <summary>
    /// The longest gap between consecutive heartbeats in [<paramref name="from"/>, <paramref name="to"/>]
    /// (host seconds); the last heartbeat before <paramref name="from"/> opens the window, so a silence
    /// that began before it counts whole. Null with fewer than two heartbeats.
    /// </summary>
    public static double? LongestGapSeconds(IReadOnlyList<Heartbeat> heartbeats, double from, double to) => LongestGap(heartbeats, from, to).Seconds;

    /// <summary>As <see cref="LongestGapSeconds"/>, with the host time the longest gap began.</summary>
    public static (double? Seconds, double? StartedAt) LongestGap(IReadOnlyList<Heartbeat> heartbeats, double from, double to)
    {
        var points = new List<Heartbeat>();
        foreach (var h in heartbeats)
        {
            if (h.HostSeconds > to) break;
            if (h.HostSeconds < from) points.Clear();
            points.Add(h);
        }
        if (points.Count < 2) return (null, null);
        double longest = 0, startedAt = points[0].HostSeconds;
        for (int i = 1; i < points.Count; i++)
        {
            double gap = points[i].HostSeconds - points[i - 1].HostSeconds;
            if (gap > longest) (longest, startedAt) = (gap, points[i - 1].HostSeconds);
        }
        return (longest, startedAt);
    }

    /// <summary>
    /// The workload's progress in pages per host second over [<paramref name="from"/>, <paramref name="to"/>]:
    /// its page counter between the first and the last heartbeat inside. Null when fewer than two
    /// heartbeats fall inside or no time passed between them.
    /// </summary>
    public static double? PagesPerSecond(IReadOnlyList<Heartbeat> heartbeats, double from, double to)
    {
        Heartbeat? first = null, last = null;
        foreach (var h in heartbeats)
        {
            if (h.HostSeconds < from) continue;
            if (h.HostSeconds > to) break;
            first ??= h;
            last = h;
        }
        if (first is not { } a || last is not { } b || b.HostSeconds <= a.HostSeconds) return null;
        return (b.Pages - a.Pages) / (b.HostSeconds - a.HostSeconds);
    }

    /// <summary>
    /// 1 − (rate during ÷ rate before): 0 when the workload went on unaffected, 1 when it stopped.
    /// Null when the workload did no work before (an idle guest has nothing to slow).
    /// </summary>
    public static double? Slowdown(double? before, double? during) =>
        before is > 0 && during is { } d ? 1 - d / before.Value : null;

    /// <summary>
    /// Heartbeats that reached the host late and in batches (an agent's console stream sends what
    /// the guest printed every 200 ms) placed back on the host's clock by the guest's own: while
    /// the VM runs its clock keeps pace with the host's, so a heartbeat's arrival less its guest
    /// time is its true offset plus how late it came. Each one gets the least of that over the
    /// heartbeats of the next <paramref name="windowSeconds"/> of guest time: never earlier than
    /// it was printed (delays are never negative, and a pause, where the guest clock stands still,
    /// only raises the offset of what follows), and as late as the promptest delivery near it.
    /// The last batch a reader got has no prompt delivery after it and is placed late: read on for
    /// a while past the span you analyse.
    /// </summary>
    public static IReadOnlyList<Heartbeat> PlaceByGuestClock(IReadOnlyList<Heartbeat> heartbeats, double windowSeconds = 1.0)
    {
        int n = heartbeats.Count;
        var placed = new Heartbeat[n];
        // The window ahead as a deque of indices, falling from First (the farthest ahead) to Last (i),
        // with offsets rising from First to Last: one dominated by a later-leaving, smaller one is dropped,
        // so First holds the least offset.
        var window = new LinkedList<int>();
        for (int i = n - 1; i >= 0; i--)
        {
            double guest = heartbeats[i].GuestNs / 1e9;
            double offset = heartbeats[i].HostSeconds - guest;
            while (window.Count > 0 && Offset(heartbeats[window.Last!.Value]) >= offset) window.RemoveLast();
            window.AddLast(i);
            // Drop what lies beyond the window: in guest time more than windowSeconds after i.
            while (heartbeats[window.First!.Value].GuestNs / 1e9 > guest + windowSeconds) window.RemoveFirst();
            placed[i] = heartbeats[i] with { HostSeconds = guest + Offset(heartbeats[window.First!.Value]) };
        }
        return placed;

        static double Offset(Heartbeat h) => h.HostSeconds - h.GuestNs / 1e9;
    }
}
