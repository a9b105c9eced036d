namespace Ferry.Migration.PreCopy;

/// <summary>
/// How a pre-copy migration runs. MaxDowntime is the target the switchover decision aims for;
/// MaxRounds forces the switchover (the downtime may then exceed the target); Timeout abandons
/// the migration (the VM keeps running at the source).
/// </summary>
public sealed record PreCopyOptions
{
    public TimeSpan MaxDowntime { get; init; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Bytes per second on the wire over all streams; null for no limit.</summary>
    public long? BandwidthBytesPerSecond { get; init; }
    public int Streams { get; init; } = 1;
    public bool Compress { get; init; }
    public bool AutoConverge { get; init; }
    public int MaxRounds { get; init; } = 30;
    public TimeSpan? Timeout { get; init; }
    /// <summary>Send a digest of all guest RAM taken at the switchover; the destination refuses Ready on a mismatch. Costs downtime.</summary>
    public bool VerifyMemory { get; init; }
}
