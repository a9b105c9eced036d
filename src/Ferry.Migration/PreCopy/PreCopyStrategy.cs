using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PreCopy;

/// <summary>
/// Pre-copy and hybrid: with the VM running, start the dirty log, send every resident page
/// (warm-up), then round after round the pages dirtied meanwhile, until ConvergencePolicy says
/// switch over (stop-and-copy) or, in hybrid mode or on `ferry migrate-postcopy`, go post-copy
/// with what is still dirty. Throws when the policy gives up.
/// </summary>
/// <param name="postCopyRequested">Whether someone asked to switch to post-copy after the round on the wire.</param>
internal sealed class PreCopyStrategy(MigrationOptions options, Func<bool> postCopyRequested) : ISourceStrategy
{
    private IReadOnlyList<PageSet> _dirty = [];

    public async Task<SwitchoverKind> BeforePauseAsync(SourceRun run, CancellationToken cancellationToken)
    {
        var vm = run.Vm;
        var clock = run.Clock;
        var layout = vm.Memory;
        var dirtyLog = run.StartDirtyLog();
        // Warm-up: every page the guest ever touched. The destination's RAM is fresh, so zero pages need not travel.
        var resident = layout.Regions.Select(vm.ResidentPages).ToList();
        run.UntouchedPages = resident.Sum(s => s.PageCount - s.Count());
        long lastCollect = clock.GetTimestamp();
        await run.SendRoundAsync(resident, dirtyRate: 0, stopAndCopy: false, cancellationToken);
        run.SendZeroPages(); // from now on a page that became zero must overwrite the old copy

        var policy = new ConvergencePolicy(options);
        while (true)
        {
            _dirty = dirtyLog.Collect();
            long now = clock.GetTimestamp();
            long dirtyPages = _dirty.Sum(s => s.Count());
            double dirtyRate = dirtyPages / Math.Max(clock.GetElapsedTime(lastCollect, now).TotalSeconds, 1e-6);
            lastCollect = now;
            // --copy-storage: blocks written since the last pass go in the next round (and cost the same downtime).
            long dirtyBytes = dirtyPages * layout.PageSize + (run.Disks?.CollectWritten() ?? 0) * Storage.DiskCopy.BlockBytes;
            var decision = policy.Decide(run.Rounds.Count, dirtyBytes, run.Bandwidth, clock.GetElapsedTime(run.StartedAt), run.SwitchoverOverhead,
                dirtyRate * layout.PageSize);
            if (postCopyRequested() && decision.Step != ConvergencePolicy.Step.Switchover)
                decision = new ConvergencePolicy.Decision(ConvergencePolicy.Step.PostCopy, $"switched to post-copy on request (ferry migrate-postcopy) with {dirtyBytes / 1048576.0:0.##} MiB dirty");
            run.Report("deciding", dirtyBytes, dirtyRate, policy.ThrottlePercent);
            if (decision.Step == ConvergencePolicy.Step.Switchover) { run.SwitchoverReason = decision.Reason; return SwitchoverKind.StopAndCopy; }
            if (decision.Step == ConvergencePolicy.Step.PostCopy && options.Mode.MayPostCopy()) { run.SwitchoverReason = decision.Reason; return SwitchoverKind.PostCopy; }
            if (decision.Step is ConvergencePolicy.Step.GiveUp or ConvergencePolicy.Step.PostCopy) throw new MigrationException(decision.Reason);
            if (decision.Step == ConvergencePolicy.Step.Throttle) vm.SetThrottle(policy.ThrottlePercent);
            run.Throttle = policy.ThrottlePercent;
            await run.SendRoundAsync(_dirty, dirtyRate, stopAndCopy: false, cancellationToken);
        }
    }

    /// <summary>What was dirty at the decision plus what the guest wrote until it stopped.</summary>
    public IReadOnlyList<PageSet> PagesLeft(SourceRun run) => run.WithPagesDirtiedSinceLastCollect(_dirty);

    public MigrationReport Describe(MigrationReport report) => report;
}
