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
    int ThrottlePercent);
