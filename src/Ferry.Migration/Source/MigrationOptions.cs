using Ferry.Migration.Transport;

namespace Ferry.Migration.Source;

/// <summary>
/// How a migration runs: its mode and streams, and for the live modes (pre-copy, post-copy,
/// hybrid) the rest. MaxDowntime is the promise the switchover keeps: when the rounds cannot meet
/// it, OnNoConverge decides (abort, post-copy, or force a longer pause). MaxRounds and Timeout
/// bound the rounds.
/// </summary>
public sealed record MigrationOptions
{
    /// <summary>Cold (pause, then send everything), PreCopy, PostCopy (switch over at once) or Hybrid (rounds, then post-copy if they cannot meet the limit).</summary>
    public MigrationMode Mode { get; init; } = MigrationMode.PreCopy;
    public TimeSpan MaxDowntime { get; init; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Bytes per second on the wire over all streams; null for no limit. Post-copy's fault replies are never limited.</summary>
    public long? BandwidthBytesPerSecond { get; init; }
    /// <summary>The rate the stop-and-copy may use; null keeps <see cref="BandwidthBytesPerSecond"/> (the user says when the link allows more).</summary>
    public long? SwitchoverBandwidthBytesPerSecond { get; init; }
    /// <summary>The stop-and-copy goes as fast as the link allows, whatever the cap on the rounds.</summary>
    public bool UnlimitedSwitchover { get; init; }
    public int Streams { get; init; } = 1;
    public bool Compress { get; init; }
    public bool AutoConverge { get; init; }
    public int MaxRounds { get; init; } = 30;
    public TimeSpan? Timeout { get; init; }
    /// <summary>Hybrid: switch to post-copy once this much time has passed, converged or not.</summary>
    public TimeSpan? PostCopyAfter { get; init; }
    /// <summary>What happens when the rounds cannot meet MaxDowntime; null takes the mode's default (pre-copy aborts, hybrid goes post-copy).</summary>
    public NoConvergeAction? OnNoConverge { get; init; }
    /// <summary>Post-copy: how long a source whose link broke keeps reconnecting (its VM held paused, every page kept) before it gives up.</summary>
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Send a digest of all guest RAM taken at the switchover; the destination refuses Ready on a mismatch. Costs downtime.</summary>
    public bool VerifyMemory { get; init; }
    /// <summary>
    /// The VM's disk images travel with it (the VM must implement IMigratableDisks): copied while
    /// it runs, written blocks re-sent each round, the rest after the devices drained at the pause.
    /// False: storage is shared and no disk byte is sent.
    /// </summary>
    public bool CopyStorage { get; init; }

    public NoConvergeAction NoConverge => OnNoConverge ?? (Mode == MigrationMode.PreCopy ? NoConvergeAction.Abort : NoConvergeAction.PostCopy);
}

/// <summary>What a live migration does when its rounds cannot meet the downtime limit.</summary>
public enum NoConvergeAction
{
    /// <summary>Keep iterating until --max-rounds or --timeout, then give up: the VM runs on at the source.</summary>
    Abort,
    /// <summary>Switch over anyway: the pause may exceed the limit.</summary>
    Force,
    /// <summary>Switch to post-copy: the pause is short, the pages follow (hybrid and post-copy only).</summary>
    PostCopy,
}
