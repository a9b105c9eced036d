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
    /// <summary>Passes over the disks before the switchover: the first copies them, the others what the guest wrote meanwhile.</summary>
    public const int MaxDiskPasses = 5;
    private IReadOnlyList<PageSet> _resident = [];

    public async Task<SwitchoverKind> BeforePauseAsync(SourceRun run, CancellationToken cancellationToken)
    {
        // Which pages exist is read while the guest still runs (mincore of a large guest takes
        // milliseconds); the dirty log catches any page it writes from then on.
        run.StartDirtyLog();
        run.SwitchoverReason = "post-copy: switched over at once";
        _resident = run.Vm.Memory.Regions.Select(run.Vm.ResidentPages).ToList();
        run.UntouchedPages = _resident.Sum(s => s.PageCount - s.Count());
        if (run.Disks is { } disks)
        {
            // Disk blocks are not fetched on demand after the switchover: the images are copied
            // first, while the VM runs, then what the guest wrote meanwhile, pass after pass while
            // that shrinks (at most MaxDiskPasses); the rest goes at the pause.
            run.Report("disk copy", disks.PendingBytes, 0, 0);
            await run.SendDisksAsync(cancellationToken);
            long last = long.MaxValue;
            for (int pass = 1; pass < MaxDiskPasses; pass++)
            {
                long pending = disks.CollectWritten();
                if (pending == 0 || pending >= last) break;
                last = pending;
                run.Report($"disk copy: written blocks, pass {pass}", disks.PendingBytes, 0, 0);
                await run.SendDisksAsync(cancellationToken);
            }
        }
        return SwitchoverKind.PostCopy;
    }

    public IReadOnlyList<PageSet> PagesLeft(SourceRun run) => run.WithPagesDirtiedSinceLastCollect(_resident);

    public MigrationReport Describe(MigrationReport report) => report;
}
