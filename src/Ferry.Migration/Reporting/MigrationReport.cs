using Ferry.Migration.Transport;

namespace Ferry.Migration.Reporting;

/// <summary>
/// The figures of one migration, measured by the source's engine. TotalTime runs from the start
/// of the migration to the destination's resume, Downtime from the source's pause to that
/// resume; the resume instant is placed on the source's clock from the Go/Running round trip
/// (see docs/migration-protocol.md). SetupTime covers connecting, authenticating and starting
/// the dirty log.
/// </summary>
public sealed record MigrationReport(
    MigrationResult Result,
    MigrationMode Mode,
    TimeSpan TotalTime,
    TimeSpan Downtime,
    TimeSpan SetupTime,
    long BytesSent,
    long PagesSent,
    long ZeroPages,
    long UntouchedPages,
    IReadOnlyList<RoundReport> Rounds,
    string SwitchoverReason,
    string Detail)
{
    /// <summary>Where the downtime went, in order (pause, last pages, device state, destination ready, go to resumed); empty for cold migrations.</summary>
    public IReadOnlyList<KeyValuePair<string, TimeSpan>> DowntimePhases { get; init; } = [];

    /// <summary>The post-copy phase, when there was one.</summary>
    public PostCopyReport? PostCopy { get; init; }

    /// <summary>`--copy-storage`: what the disks' copy sent; null when storage was shared.</summary>
    public StorageReport? Storage { get; init; }

    /// <summary>Bytes on the wire per second over the whole migration.</summary>
    public double ThroughputBytesPerSecond => TotalTime > TimeSpan.Zero ? BytesSent / TotalTime.TotalSeconds : 0;
}

/// <summary>
/// One round of a live migration: round 0 is the warm-up (all memory), the last is the
/// stop-and-copy (VM paused). DirtyPagesPerSecond is the rate at which the guest dirtied the
/// pages this round sends, while the previous round was on the wire.
/// </summary>
public sealed record RoundReport(int Round, long PagesSent, long ZeroPages, long BytesSent, TimeSpan Duration, double DirtyPagesPerSecond, int ThrottlePercent, bool StopAndCopy);

/// <summary>
/// The post-copy phase of a migration: pages the destination lacked at the switchover, how each
/// travelled (pushed or requested on a fault), and the window from the commit until the last page
/// was confirmed, in which losing the source host loses the VM. Destination is what the
/// destination measured (fault latency, blocked time), or null if it never said.
/// </summary>
public sealed record PostCopyReport(long PagesAtSwitchover, long PagesPushed, long PagesRequested, long BytesPushed, long BytesRequested,
    TimeSpan Window, PostCopy.PostCopyFigures? Destination)
{
    /// <summary>How often the link broke and the transfer picked up again after a reconnection.</summary>
    public int Recoveries { get; init; }
}

/// <summary>
/// The disks' copy of a `--copy-storage` migration: section bytes sent (included in the
/// migration's BytesSent), blocks sent, blocks sent again because the guest wrote them after an
/// earlier copy, and those sent from the pause on (in a stop-and-copy they cost downtime; after a
/// post-copy switchover they are pushed or fetched while the VM runs at the destination).
/// </summary>
public sealed record StorageReport(long BytesSent, long BlocksSent, long BlocksResent, long BlocksAtSwitchover, int BlockBytes)
{
    /// <summary>Post-copy: blocks the destination's guest asked for before the push brought them.</summary>
    public long BlocksRequested { get; init; }
}
