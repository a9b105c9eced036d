namespace Ferry.Cli;

/// <summary>ferry's exit codes. Scripts rely on them; add, never renumber.</summary>
public enum ExitCode
{
    Ok = 0,
    InternalError = 1,
    BadInput = 2,
    KvmUnavailable = 3,
    MigrationFailed = 4,
    GuestDied = 5,
    ApiFailed = 6,
    /// <summary>A migration committed but its outcome is unknown: the VM is held paused at the source.</summary>
    MigrationOutcomeUnknown = 7,
    /// <summary>Post-copy destination: the source went away before every page arrived, so the VM is lost.</summary>
    VmLost = 8,
    /// <summary>A long command (ferry compare) was interrupted (Ctrl-C or SIGTERM); what it had measured is kept. 128 + SIGINT, as shells report a Ctrl-C.</summary>
    Interrupted = 130,
}
