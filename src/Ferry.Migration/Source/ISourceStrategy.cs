using Ferry.Migration.Reporting;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Source;

/// <summary>
/// What one migration mode does its own way at the source; <see cref="MigrationSource"/> runs
/// everything else once for all of them: connect, Header and Configuration, the pause, the last
/// pages or post-copy's list, the device state, the commit point and the report.
/// </summary>
internal interface ISourceStrategy
{
    /// <summary>
    /// With the VM still running, after Header and Configuration: sends whatever may go early and
    /// says how the switchover goes. Throws to give up (the VM runs on at the source).
    /// </summary>
    Task<SwitchoverKind> BeforePauseAsync(SourceRun run, CancellationToken cancellationToken);

    /// <summary>With the VM paused: every page the destination still lacks.</summary>
    IReadOnlyList<PageSet> PagesLeft(SourceRun run);

    /// <summary>The finished report as this mode shows it.</summary>
    MigrationReport Describe(MigrationReport report);
}

/// <summary>How the VM changes hosts once it is paused.</summary>
internal enum SwitchoverKind
{
    /// <summary>Send the pages left, then the device state: the destination holds everything before it runs the VM.</summary>
    StopAndCopy,
    /// <summary>Send only which pages the destination lacks: it runs the VM at once and the pages follow.</summary>
    PostCopy,
}
