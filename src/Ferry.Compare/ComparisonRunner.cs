using System.Diagnostics;
using Ferry.Compare.Running;

namespace Ferry.Compare;

/// <summary>Where a comparison stands, for its progress display.</summary>
/// <param name="Done">Runs finished so far, of <paramref name="Total"/>.</param>
/// <param name="Last">The run that just finished (null when one starts).</param>
public sealed record ComparisonProgress(int Done, int Total, string Technique, string? Point, int Run, TimeSpan Elapsed, TimeSpan? Left, RunResult? Last);

/// <summary>
/// Runs a plan: at each sweep point, every technique --runs times, each on a fresh guest (QEMU's
/// rows: one boot migrated --runs times), in a fixed order, and keeps every result. A run that
/// fails is a result too, and the next one starts. Cancelling stops after the run in progress
/// (its VMs are stopped) and returns what was measured, marked incomplete.
/// </summary>
/// <param name="settingsAt">The concrete settings of a sweep point (null: no sweep).</param>
/// <param name="qemuPeer">The QEMU peer harness's directory, when the plan asks for QEMU's rows.</param>
public sealed class ComparisonRunner(ComparisonPlan plan, Func<string?, RunSettings> settingsAt, string? qemuPeer)
{
    public static readonly string[] QemuTechniques = ["qemu-precopy", "qemu-postcopy"];

    /// <summary>Every run of the plan, in order: (point, technique, run).</summary>
    public IReadOnlyList<(string? Point, string Technique, int Run)> Steps()
    {
        var steps = new List<(string?, string, int)>();
        IReadOnlyList<string?> points = plan.Sweep is { } sweep ? [.. sweep.Values] : [null];
        foreach (var point in points)
            foreach (var technique in plan.Techniques.Concat(plan.PeerQemu ? QemuTechniques : []))
                for (int run = 1; run <= plan.Runs; run++) steps.Add((point, technique, run));
        return steps;
    }

    /// <param name="checkpoint">Called with the report after every run (the caller writes it), so an interrupted comparison keeps what it has.</param>
    public ComparisonReport Run(Conditions conditions, IProgress<ComparisonProgress>? progress, Action<ComparisonReport>? checkpoint, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var steps = Steps();
        var results = new List<RunResult>();
        ComparisonReport Report(bool complete, string? interruption) => new()
        {
            Plan = plan, Conditions = conditions, Runs = [.. results], Complete = complete, Interruption = interruption,
            ElapsedSeconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
        void Finished(RunResult r)
        {
            results.Add(r);
            var left = TimeSpan.FromTicks(clock.Elapsed.Ticks / results.Count * (steps.Count - results.Count));
            progress?.Report(new ComparisonProgress(results.Count, steps.Count, r.Technique, r.Point, r.Run, clock.Elapsed, left, r));
            checkpoint?.Invoke(Report(false, null));
        }

        try
        {
            foreach (var group in steps.GroupBy(s => (s.Point, s.Technique)))
            {
                var settings = settingsAt(group.Key.Point);
                if (group.Key.Technique.StartsWith("qemu-", StringComparison.Ordinal))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    progress?.Report(new ComparisonProgress(results.Count, steps.Count, group.Key.Technique, group.Key.Point, 1, clock.Elapsed, null, null));
                    foreach (var r in QemuPeerRuns.Run(settings, qemuPeer!, group.Key.Technique, group.Key.Point, plan.Runs, cancellationToken)) Finished(r);
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }
                foreach (var (point, technique, run) in group)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    progress?.Report(new ComparisonProgress(results.Count, steps.Count, technique, point, run, clock.Elapsed, null, null));
                    RunResult result;
                    try
                    {
                        result = settings.Agents is { } agents ? AgentMigrationRun.Run(settings, agents, technique, point, run, cancellationToken)
                            : FerryMigrationRun.Run(settings, technique, point, run, cancellationToken);
                    }
                    catch (OperationCanceledException) { throw; }
                    catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
                    {
                        result = new RunResult { Technique = technique, Point = point, Run = run, Ok = false, Error = e.Message };
                    }
                    Finished(result);
                }
            }
        }
        catch (OperationCanceledException)
        {
            return Report(false, $"interrupted after {results.Count} of {steps.Count} runs");
        }
        return Report(true, null);
    }
}
