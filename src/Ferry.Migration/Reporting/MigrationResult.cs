namespace Ferry.Migration.Reporting;

/// <summary>How a migration ended at the source.</summary>
public enum MigrationResult
{
    /// <summary>The destination runs the VM; the source must end it.</summary>
    Completed,
    /// <summary>The source committed but never heard that the destination runs the VM: the VM stays paused here until someone decides.</summary>
    OutcomeUnknown,
    /// <summary>
    /// Post-copy: the destination ran the VM, but the link broke before it held every page. The
    /// source keeps its copy, paused; the VM cannot run anywhere whole until the transfer finishes.
    /// </summary>
    PostCopyInterrupted,
}
