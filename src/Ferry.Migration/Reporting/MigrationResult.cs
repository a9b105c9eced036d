namespace Ferry.Migration.Reporting;

/// <summary>How a migration ended at the source.</summary>
public enum MigrationResult
{
    /// <summary>The destination runs the VM; the source must end it.</summary>
    Completed,
    /// <summary>The source committed but never heard that the destination runs the VM: the VM stays paused here until someone decides.</summary>
    OutcomeUnknown,
}
