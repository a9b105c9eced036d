namespace Ferry.Migration.PreCopy;

/// <summary>
/// Decides after each round what the next step is, from what is left to send and how fast it
/// goes: switch over when the expected downtime fits the limit; throttle the guest (auto-converge)
/// or switch over anyway when rounds stop shrinking; switch over at the round limit; give up at
/// the timeout. Pure logic, so its rules are tested without a VM.
/// </summary>
public sealed class ConvergencePolicy(PreCopyOptions options)
{
    /// <summary>A round "shrinks" when it leaves less than this share of the previous round's pages dirty.</summary>
    public const double ShrinkRatio = 0.95;
    /// <summary>Consecutive rounds that did not shrink before the policy acts.</summary>
    public const int StallRounds = 2;
    public const int FirstThrottlePercent = 20, ThrottleStepPercent = 10, MaxThrottlePercent = 99;

    private long _previousDirtyBytes = long.MaxValue;
    private int _stalled;

    public int ThrottlePercent { get; private set; }

    public static TimeSpan ExpectedDowntime(long remainingBytes, double bandwidthBytesPerSecond) =>
        bandwidthBytesPerSecond <= 0 ? TimeSpan.MaxValue : TimeSpan.FromSeconds(remainingBytes / bandwidthBytesPerSecond);

    /// <param name="roundsDone">Rounds sent so far, the warm-up included.</param>
    /// <param name="dirtyBytes">What the next round would send.</param>
    /// <param name="overhead">The fixed part of a switchover (the destination's latency), added to the time to send.</param>
    public Decision Decide(int roundsDone, long dirtyBytes, double bandwidthBytesPerSecond, TimeSpan elapsed, TimeSpan overhead = default)
    {
        var expected = ExpectedDowntime(dirtyBytes, bandwidthBytesPerSecond);
        if (expected != TimeSpan.MaxValue) expected += overhead;
        bool shrank = dirtyBytes < _previousDirtyBytes * ShrinkRatio;
        _previousDirtyBytes = dirtyBytes;
        _stalled = shrank ? 0 : _stalled + 1;

        // Nothing dirty: another round could not shorten anything, whatever the fixed overhead.
        if (expected <= options.MaxDowntime || dirtyBytes == 0)
            return new Decision(Step.Switchover, $"converged: {Mib(dirtyBytes)} left, expected downtime {Ms(expected)} within the {Ms(options.MaxDowntime)} limit");
        if (options.Timeout is { } timeout && elapsed >= timeout)
            return new Decision(Step.GiveUp, $"did not converge within the {timeout.TotalSeconds:0.#} s timeout ({Mib(dirtyBytes)} still dirty after {roundsDone} rounds, expected downtime {Ms(expected)})");
        if (roundsDone >= options.MaxRounds)
            return new Decision(Step.Switchover, $"reached the limit of {options.MaxRounds} rounds with {Mib(dirtyBytes)} left (expected downtime {Ms(expected)})");
        if (_stalled >= StallRounds)
        {
            _stalled = 0;
            if (options.AutoConverge && ThrottlePercent < MaxThrottlePercent)
            {
                ThrottlePercent = ThrottlePercent == 0 ? FirstThrottlePercent : Math.Min(MaxThrottlePercent, ThrottlePercent + ThrottleStepPercent);
                return new Decision(Step.Throttle, $"rounds stopped shrinking: vCPUs throttled to {ThrottlePercent} %");
            }
            return new Decision(Step.Switchover, options.AutoConverge
                ? $"rounds stopped shrinking even with vCPUs throttled to {ThrottlePercent} % ({Mib(dirtyBytes)} left, expected downtime {Ms(expected)})"
                : $"rounds stopped shrinking ({Mib(dirtyBytes)} left, expected downtime {Ms(expected)}; --auto-converge would throttle the guest)");
        }
        return new Decision(Step.Continue, "");
    }

    private static string Mib(long bytes) => $"{bytes / 1048576.0:0.##} MiB";
    private static string Ms(TimeSpan t) => t == TimeSpan.MaxValue ? "unbounded" : $"{t.TotalMilliseconds:0.#} ms";

    public enum Step { Continue, Throttle, Switchover, GiveUp }

    public sealed record Decision(Step Step, string Reason);
}
