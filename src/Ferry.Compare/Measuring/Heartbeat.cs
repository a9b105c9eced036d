namespace Ferry.Compare.Measuring;

/// <summary>
/// One heartbeat line of a test-guest workload (<c>HB seq guest-ns pages</c>, docs/test-guest.md),
/// with the host's time (seconds on one monotonic clock) when its newline reached the host.
/// </summary>
public readonly record struct Heartbeat(double HostSeconds, long Seq, long GuestNs, long Pages)
{
    /// <summary>Parses <c>HB 12 345678 90</c>; false for any other line.</summary>
    public static bool TryParse(string line, double hostSeconds, out Heartbeat heartbeat)
    {
        heartbeat = default;
        if (!line.StartsWith("HB ", StringComparison.Ordinal)) return false;
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 4 || !long.TryParse(parts[1], out long seq) || !long.TryParse(parts[2], out long ns) || !long.TryParse(parts[3], out long pages))
            return false;
        heartbeat = new Heartbeat(hostSeconds, seq, ns, pages);
        return true;
    }
}
