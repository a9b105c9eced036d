namespace Ferry.Vmm.Operations;

/// <summary>A long operation on the VM (snapshot, migration) as the control API reports it.</summary>
public sealed record OperationStatus(
    string Kind,
    string Phase,
    long MemoryBytesDone,
    long MemoryBytesTotal,
    long BytesTransferred,
    string Message,
    OperationReport? Report)
{
    public const string Running = "running", Completed = "completed", Failed = "failed", OutcomeUnknown = "outcome-unknown";
    public bool Finished => Phase != Running;

    /// <summary>Where a live migration stands (null for snapshots and cold migrations).</summary>
    public LiveProgress? Live { get; init; }
}

/// <summary>A live migration in progress: its round, what is left and how fast things go.</summary>
public sealed record LiveProgress(string Step, int Round, long RemainingBytes, double DirtyPagesPerSecond, double BandwidthBytesPerSecond,
    double ExpectedDowntimeMs, int ThrottlePercent);

/// <summary>The figures of a finished snapshot or migration, measured in the VMM.</summary>
public sealed record OperationReport(double TotalMs, double DowntimeMs, long BytesTransferred, long PagesSent, long ZeroPagesSkipped, long UntouchedPagesSkipped)
{
    public string? Mode { get; init; }
    public double SetupMs { get; init; }
    public double ThroughputBytesPerSecond { get; init; }
    public string? SwitchoverReason { get; init; }
    public IReadOnlyList<RoundFigures>? Rounds { get; init; }
    /// <summary>Where the downtime went (pre-copy): phase name → milliseconds, in order.</summary>
    public IReadOnlyList<DowntimePhase>? DowntimePhases { get; init; }
}

/// <summary>One phase of a live migration's downtime.</summary>
public sealed record DowntimePhase(string Phase, double Ms);

/// <summary>One round of a live migration in the report.</summary>
public sealed record RoundFigures(int Round, long PagesSent, long ZeroPages, long BytesSent, double DurationMs, double DirtyPagesPerSecond,
    int ThrottlePercent, bool StopAndCopy);
