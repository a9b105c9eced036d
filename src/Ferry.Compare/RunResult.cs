namespace Ferry.Compare;

/// <summary>
/// One migration of a fresh guest by one technique at one sweep point, as measured. A figure that
/// does not apply to the technique (faults of a pre-copy) or could not be measured is null. A
/// technique that failed keeps its error, and the comparison goes on with the others.
/// </summary>
public sealed record RunResult
{
    /// <summary>cold, precopy, postcopy, hybrid; qemu-precopy, qemu-postcopy for the peer's rows.</summary>
    public required string Technique { get; init; }
    /// <summary>The sweep value this run belongs to, as written (<c>10000</c>); null without a sweep.</summary>
    public string? Point { get; init; }
    /// <summary>1-based.</summary>
    public required int Run { get; init; }
    /// <summary>The VM moved and runs healthy at the destination.</summary>
    public required bool Ok { get; init; }
    /// <summary>Why not, in one line.</summary>
    public string? Error { get; init; }

    /// <summary>The downtime the migration reported (source pause to destination resume).</summary>
    public double? DowntimeMs { get; init; }
    /// <summary>The longest gap in the guest's heartbeats as they reached the host, less the longest gap before the migration.</summary>
    public double? GuestDowntimeMs { get; init; }
    /// <summary>From the migrate command to the VM running at the destination with every page there.</summary>
    public double? TotalMs { get; init; }
    public long? BytesSent { get; init; }
    /// <summary>Bytes sent ÷ the guest's non-zero memory at the start (4 KiB × the non-zero pages of the first full pass).</summary>
    public double? BytesPerNonZeroByte { get; init; }
    /// <summary>Pages sent more than once (later rounds of a pre-copy).</summary>
    public long? PagesResent { get; init; }
    /// <summary>Post-copy: faults on pages not yet there, and their service latency as the guest felt it.</summary>
    public long? Faults { get; init; }
    public double? FaultP50Us { get; init; }
    public double? FaultP99Us { get; init; }
    /// <summary>
    /// How much the workload slowed during the migration: 1 − its progress rate from the migrate
    /// command to the end, over its rate in the settle time before (0: unaffected; 1: stopped).
    /// </summary>
    public double? Slowdown { get; init; }
    /// <summary>How long a failure of the source host would have lost the VM (post-copy: switchover to the last page); 0 for cold and pre-copy.</summary>
    public double? WindowMs { get; init; }
}
