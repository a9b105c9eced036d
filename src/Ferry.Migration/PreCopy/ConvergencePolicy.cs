using Ferry.Migration.Source;

namespace Ferry.Migration.PreCopy;

/// <summary>
/// Decides after each round what the next step is, from what is left to send and how fast it
/// goes: switch over when the expected downtime fits the limit, unless one more short round
/// would at least halve it; throttle the guest (auto-converge) when rounds stop shrinking. When
/// the limit cannot be met (rounds stop shrinking, the round limit, the timeout, hybrid's
/// --postcopy-after), the user's --on-no-converge decides: give up (the VM runs on at the
/// source; pre-copy's default), switch to post-copy (hybrid's default) or switch over anyway.
/// Pure logic, so its rules are tested without a VM.
/// </summary>
public sealed class ConvergencePolicy(MigrationOptions options)
{
    /// <summary>A round "shrinks" when it leaves less than this share of the previous round's pages dirty.</summary>
    public const double ShrinkRatio = 0.95;
    /// <summary>Consecutive rounds that did not shrink before the policy acts.</summary>
    public const int StallRounds = 2;
    public const int FirstThrottlePercent = 20, ThrottleStepPercent = 10, MaxThrottlePercent = 99;
    /// <summary>
    /// Once the limit is met, another round is worth its cost only while the pages would take at
    /// least this share of the limit to send (below it the switchover's fixed latency dominates)...
    /// </summary>
    public const double ExtraRoundFloor = 0.1;
    /// <summary>... and while it is expected to leave at most this share of them dirty.</summary>
    public const double ExtraRoundGain = 0.5;
    /// <summary>Extra rounds after the limit was first met, at most: a guard against a bad dirty-rate estimate.</summary>
    public const int MaxExtraRounds = 3;

    private long _previousDirtyBytes = long.MaxValue;
    private int _stalled;
    private int _extraRounds;

    public int ThrottlePercent { get; private set; }

    public static TimeSpan ExpectedDowntime(long remainingBytes, double bandwidthBytesPerSecond) =>
        bandwidthBytesPerSecond <= 0 ? TimeSpan.MaxValue : TimeSpan.FromSeconds(remainingBytes / bandwidthBytesPerSecond);

    /// <param name="roundsDone">Rounds sent so far, the warm-up included.</param>
    /// <param name="dirtyBytes">What the next round would send.</param>
    /// <param name="overhead">The fixed part of a switchover (the destination's latency), added to the time to send.</param>
    /// <param name="dirtyBytesPerSecond">How fast the guest dirtied memory in the last round; 0 if unknown.</param>
    public Decision Decide(int roundsDone, long dirtyBytes, double bandwidthBytesPerSecond, TimeSpan elapsed,
        TimeSpan overhead = default, double dirtyBytesPerSecond = 0)
    {
        var expected = ExpectedDowntime(dirtyBytes, bandwidthBytesPerSecond);
        if (expected != TimeSpan.MaxValue) expected += overhead;
        bool shrank = dirtyBytes < _previousDirtyBytes * ShrinkRatio;
        _previousDirtyBytes = dirtyBytes;
        _stalled = shrank ? 0 : _stalled + 1;

        // Nothing dirty: another round could not shorten anything, whatever the fixed overhead.
        if (expected <= options.MaxDowntime || dirtyBytes == 0)
        {
            if (dirtyBytes > 0 && ExtraRoundPays(roundsDone, dirtyBytes, bandwidthBytesPerSecond, elapsed, dirtyBytesPerSecond))
            {
                _extraRounds++;
                return new Decision(Step.Continue, $"expected downtime {Ms(expected)} fits, but one more round should leave less than half of {Mib(dirtyBytes)}");
            }
            string shrunk = _extraRounds == 0 ? "" : $", after {_extraRounds} more round{(_extraRounds == 1 ? "" : "s")} to shrink it";
            return new Decision(Step.Switchover, $"converged: {Mib(dirtyBytes)} left, expected downtime {Ms(expected)} within the {Ms(options.MaxDowntime)} limit{shrunk}");
        }
        var action = options.NoConverge;
        if (options.PostCopyAfter is { } after && elapsed >= after && action == NoConvergeAction.PostCopy)
            return NotConverged(action, $"{after.TotalSeconds:0.#} s passed (--postcopy-after) with {Mib(dirtyBytes)} still dirty (expected downtime {Ms(expected)})");
        if (options.Timeout is { } timeout && elapsed >= timeout)
            return NotConverged(action, $"did not converge within the {timeout.TotalSeconds:0.#} s timeout ({Mib(dirtyBytes)} still dirty after {roundsDone} rounds, expected downtime {Ms(expected)})");
        if (roundsDone >= options.MaxRounds)
            return NotConverged(action, $"reached the limit of {options.MaxRounds} rounds with {Mib(dirtyBytes)} left (expected downtime {Ms(expected)})");
        if (_stalled >= StallRounds)
        {
            _stalled = 0;
            if (options.AutoConverge && ThrottlePercent < MaxThrottlePercent)
            {
                ThrottlePercent = ThrottlePercent == 0 ? FirstThrottlePercent : Math.Min(MaxThrottlePercent, ThrottlePercent + ThrottleStepPercent);
                return new Decision(Step.Throttle, $"rounds stopped shrinking: vCPUs throttled to {ThrottlePercent} %");
            }
            // Aborting waits for the round limit or the timeout: the guest's rate may still drop.
            if (action != NoConvergeAction.Abort)
                return NotConverged(action, options.AutoConverge
                    ? $"rounds stopped shrinking even with vCPUs throttled to {ThrottlePercent} % ({Mib(dirtyBytes)} left, expected downtime {Ms(expected)})"
                    : $"rounds stopped shrinking ({Mib(dirtyBytes)} left, expected downtime {Ms(expected)}; --auto-converge would throttle the guest)");
        }
        return new Decision(Step.Continue, "");
    }

    /// <summary>
    /// Switching over as soon as the limit is met lands anywhere up to the limit (30 MiB left
    /// after the warm-up of a guest writing 80 MB/s gives ~25 ms). While the guest dirties pages
    /// much slower than they go, one more round of a few ms leaves a fraction of them: the
    /// pages the guest writes while this round's are on the wire.
    /// </summary>
    private bool ExtraRoundPays(int roundsDone, long dirtyBytes, double bandwidth, TimeSpan elapsed, double dirtyBytesPerSecond)
    {
        if (_extraRounds >= MaxExtraRounds || roundsDone >= options.MaxRounds || dirtyBytesPerSecond <= 0 || bandwidth <= 0) return false;
        if (options.Timeout is { } timeout && elapsed >= timeout) return false;
        double sendSeconds = dirtyBytes / bandwidth;
        if (sendSeconds < options.MaxDowntime.TotalSeconds * ExtraRoundFloor) return false;
        double dirtiedMeanwhile = dirtyBytesPerSecond * sendSeconds;
        return dirtiedMeanwhile <= dirtyBytes * ExtraRoundGain;
    }

    /// <summary>The rounds cannot keep the promise: what the user chose happens.</summary>
    private static Decision NotConverged(NoConvergeAction action, string why) => action switch
    {
        NoConvergeAction.Force => new Decision(Step.Switchover, $"{why}; switching over anyway (--on-no-converge force)"),
        NoConvergeAction.PostCopy => new Decision(Step.PostCopy, $"{why}; switching to post-copy"),
        _ => new Decision(Step.GiveUp, $"{why}; giving up rather than pause the guest past --max-downtime (--on-no-converge force or postcopy would go on)"),
    };

    private static string Mib(long bytes) => $"{bytes / 1048576.0:0.##} MiB";
    private static string Ms(TimeSpan t) => t == TimeSpan.MaxValue ? "unbounded" : $"{t.TotalMilliseconds:0.#} ms";

    public enum Step { Continue, Throttle, Switchover, GiveUp, PostCopy }

    public sealed record Decision(Step Step, string Reason);
}
