namespace Ferry.Api;

/// <summary>A long operation on the VM (snapshot, migration) as the control API reports it; the VMM fills it from the engine's reports (Ferry.Vmm/Operations).</summary>
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

    /// <summary>Where a receive stands until the VM runs here (kind "receive"; afterwards a post-copy shows as <see cref="Live"/>).</summary>
    public ReceiveProgress? Receive { get; init; }
}

/// <summary>
/// A receiving VMM's migration before the VM runs here: its step ("waiting for the source",
/// "receiving", "ready: waiting for the source's word to run"), the mode the source chose (null
/// until it connected), and the guest pages that arrived so far on the first stream. Whether it
/// can still be cancelled: until this side says Ready, a cancel leaves the VM at its source.
/// </summary>
public sealed record ReceiveProgress(string Step, string? Mode, long PagesReceived, bool Cancellable);

/// <summary>A live migration in progress: its round, what is left and how fast things go.</summary>
public sealed record LiveProgress(string Step, int Round, long RemainingBytes, double DirtyPagesPerSecond, double BandwidthBytesPerSecond,
    double ExpectedDowntimeMs, int ThrottlePercent)
{
    /// <summary>During post-copy: pages still only at the source, and how many were requested and pushed so far.</summary>
    public long? PagesAtSource { get; init; }
    public long? PagesRequested { get; init; }
    public long? PagesPushed { get; init; }
    /// <summary>`--copy-storage`: disk bytes sent so far, blocks sent again after the guest wrote them, and disk bytes still to send (at most).</summary>
    public long? DiskBytesSent { get; init; }
    public long? DiskBlocksResent { get; init; }
    public long? DiskBytesPending { get; init; }
}

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
    /// <summary>The post-copy phase (post-copy and hybrid migrations that switched to it).</summary>
    public PostCopyPhase? PostCopy { get; init; }
    /// <summary>`--copy-storage`: what moving the disk images cost (null: storage was shared).</summary>
    public StorageFigures? Storage { get; init; }
    /// <summary>CPU time (user + system) this VMM process spent on the migration outside its vCPU threads.</summary>
    public double VmmCpuMs { get; init; }
}

/// <summary>
/// A post-copy phase in a report: pages the destination lacked at the switchover and how they
/// travelled, the window in which losing the source host loses the VM, and what the destination
/// measured (fault latency as the guest felt it, time blocked per thread).
/// </summary>
public sealed record PostCopyPhase(long PagesAtSwitchover, long PagesPushed, long PagesRequested, long BytesPushed, long BytesRequested,
    double WindowMs)
{
    public long Faults { get; init; }
    public long ZeroFaults { get; init; }
    public double FaultLatencyP50Us { get; init; }
    public double FaultLatencyP99Us { get; init; }
    public double FaultLatencyMaxUs { get; init; }
    /// <summary>Pages waited for, by fault latency: bucket upper bound in µs (the last one open-ended, -1) → count.</summary>
    public IReadOnlyList<LatencyBucket>? FaultLatencyHistogram { get; init; }
    public IReadOnlyList<BlockedThread>? BlockedTime { get; init; }
    public double AllPresentAfterResumeMs { get; init; }
    /// <summary>How often the link broke after the switchover and the transfer picked up again.</summary>
    public int Recoveries { get; init; }
}

public sealed record LatencyBucket(int UpToUs, long Pages);

public sealed record BlockedThread(string Thread, double BlockedMs);

/// <summary>One phase of a live migration's downtime.</summary>
public sealed record DowntimePhase(string Phase, double Ms);

/// <summary>One round of a live migration in the report.</summary>
public sealed record RoundFigures(int Round, long PagesSent, long ZeroPages, long BytesSent, double DurationMs, double DirtyPagesPerSecond,
    int ThrottlePercent, bool StopAndCopy);

/// <summary>
/// The disk images' copy in a `--copy-storage` migration: bytes sent (part of BytesTransferred),
/// blocks sent, blocks sent again because the guest wrote them after an earlier copy, blocks sent
/// while the VM was paused, and the block size.
/// </summary>
public sealed record StorageFigures(long DiskBytesSent, long BlocksSent, long BlocksResent, long BlocksAtSwitchover, int BlockBytes)
{
    /// <summary>Post-copy: blocks the destination's guest asked for before the push brought them.</summary>
    public long BlocksRequested { get; init; }
}
