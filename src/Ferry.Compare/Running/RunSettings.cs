namespace Ferry.Compare.Running;

/// <summary>One sweep point of a plan, made concrete: the guest, its workload and the link, as every run at that point gets them.</summary>
/// <param name="Bandwidth">As the user wrote it, for `ferry migrate`; <paramref name="BandwidthBitsPerSecond"/> is its value, for the QEMU peer (and so for the downtime and the timeout).</param>
public sealed record RunSettings(string Ferry, string Kernel, string Initrd, string Memory, int Cpus, GuestWorkload Workload,
    string? Bandwidth, long? BandwidthBitsPerSecond, string MaxDowntime, double MaxDowntimeMs, int? MaxRounds, string Timeout, double TimeoutSeconds, double SettleSeconds,
    string LogDirectory)
{
    /// <summary>How long the guest may take from `ferry run` to its workload's ready line (a large memtouch fill is the slow part).</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Heartbeats are collected this long after the migration ended, so the destination's first ones are in.</summary>
    public double PostWaitSeconds { get; init; } = 1;

    /// <summary>Between these two host agents (`ferry compare --from --to`); null: two VMM processes on this host, over loopback.</summary>
    public AgentPair? Agents { get; init; }

    /// <summary>`ferry migrate`'s options for <paramref name="technique"/> (also `vm migrate`'s, between agents), ending with --json.</summary>
    public IReadOnlyList<string> MigrateOptions(string technique)
    {
        var options = new List<string> { "--mode", technique, "--json" };
        // A cold migration pauses throughout: a downtime limit means nothing to it.
        if (technique != "cold") options.AddRange(["--max-downtime", MaxDowntime]);
        if (technique is "precopy" or "hybrid") options.AddRange(["--timeout", Timeout]);
        if (MaxRounds is { } rounds && technique is "precopy" or "hybrid") options.AddRange(["--max-rounds", rounds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (Bandwidth is { } bandwidth) options.AddRange(["--bandwidth", bandwidth]);
        return options;
    }
}
