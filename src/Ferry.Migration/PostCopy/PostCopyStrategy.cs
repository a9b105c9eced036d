using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// Post-copy: no rounds. It notes which pages exist and switches over at once; at the pause the
/// destination learns that all of them (and any the guest wrote meanwhile) are still to come.
/// </summary>
internal sealed class PostCopyStrategy : ISourceStrategy
{
    private IReadOnlyList<PageSet> _resident = [];

    public Task<SwitchoverKind> BeforePauseAsync(SourceRun run, CancellationToken cancellationToken)
    {
        // Which pages exist is read while the guest still runs (mincore of a large guest takes
        // milliseconds); the dirty log catches any page it writes from then on.
        run.StartDirtyLog();
        run.SwitchoverReason = "post-copy: switched over at once";
        _resident = run.Vm.Memory.Regions.Select(run.Vm.ResidentPages).ToList();
        run.UntouchedPages = _resident.Sum(s => s.PageCount - s.Count());
        // Copied disks travel after the switchover like the pages, fetched on demand and pushed
        // (MigrationSource sends which blocks the destination lacks): nothing of them goes before.
        return Task.FromResult(SwitchoverKind.PostCopy);
    }

    public IReadOnlyList<PageSet> PagesLeft(SourceRun run) => run.WithPagesDirtiedSinceLastCollect(_resident);

    public MigrationReport Describe(MigrationReport report) => report;
}
