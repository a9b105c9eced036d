namespace Ferry.Migration.Cold;

/// <summary>How a migration ended at the source.</summary>
public enum MigrationResult
{
    /// <summary>The destination runs the VM; the source must end it.</summary>
    Completed,
    /// <summary>The source committed but never heard that the destination runs the VM: the VM stays paused here until someone decides.</summary>
    OutcomeUnknown,
}

/// <summary>The figures of one migration, measured at the source.</summary>
public sealed record MigrationOutcome(MigrationResult Result, TimeSpan TotalTime, TimeSpan Downtime, long BytesSent, long PagesSent, long ZeroPages, string Detail);
