using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Cold;

/// <summary>
/// Cold migration: nothing goes while the guest runs (only Header and Configuration, which the
/// guest cannot change); the VM pauses at once and every resident page leaves straight from guest
/// RAM, split over the streams, in the one transfer the switchover makes anyway.
/// </summary>
internal sealed class ColdStrategy : ISourceStrategy
{
    public const string Reason = "cold migration: the VM was paused throughout";

    public Task<SwitchoverKind> BeforePauseAsync(SourceRun run, CancellationToken cancellationToken)
    {
        run.SwitchoverReason = Reason;
        return Task.FromResult(SwitchoverKind.StopAndCopy);
    }

    /// <summary>Which pages exist is read only now that the guest stands still: no dirty log covers a cold migration.</summary>
    public IReadOnlyList<PageSet> PagesLeft(SourceRun run)
    {
        var resident = run.Vm.Memory.Regions.Select(run.Vm.ResidentPages).ToList();
        run.UntouchedPages = resident.Sum(s => s.PageCount - s.Count());
        return resident;
    }

    /// <summary>One transfer with the VM paused is not a round, and its downtime is the whole transfer: the report lists neither.</summary>
    public MigrationReport Describe(MigrationReport report) => report with { Rounds = [], DowntimePhases = [] };
}
