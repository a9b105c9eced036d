namespace Ferry.Migration.Reporting;

/// <summary>Where a running live migration is, for progress displays and the control API.</summary>
public sealed record MigrationProgress(
    string Phase,
    int Round,
    long BytesTransferred,
    long RemainingBytes,
    double DirtyPagesPerSecond,
    double BandwidthBytesPerSecond,
    TimeSpan ExpectedDowntime,
    int ThrottlePercent)
{
    /// <summary>During post-copy: the pages still at the source and how many were requested and pushed so far.</summary>
    public PostCopyProgress? PostCopy { get; init; }

    /// <summary>`--copy-storage`: the disks' bytes sent so far, blocks sent again after the guest wrote them, and bytes still to send (at most).</summary>
    public DiskProgress? Disk { get; init; }
}

public sealed record DiskProgress(long BytesSent, long BlocksResent, long PendingBytes);

public sealed record PostCopyProgress(long PagesAtSource, long PagesRequested, long PagesPushed);
