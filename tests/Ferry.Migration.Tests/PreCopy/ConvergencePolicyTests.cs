using Ferry.Migration.Source;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Transport;

namespace Ferry.Migration.Tests.PreCopy;

public sealed class ConvergencePolicyTests
{
    private static readonly TimeSpan Early = TimeSpan.FromSeconds(1);
    private const double Bandwidth = 1_000_000_000; // bytes per second

    [Fact]
    public void It_switches_over_once_what_is_left_fits_the_downtime_limit()
    {
        var policy = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(ConvergencePolicy.Step.Continue, policy.Decide(1, 100_000_000, Bandwidth, Early).Step); // 100 ms left
        var decision = policy.Decide(2, 40_000_000, Bandwidth, Early);                                    // 40 ms left
        Assert.Equal(ConvergencePolicy.Step.Switchover, decision.Step);
        Assert.StartsWith("converged", decision.Reason);
    }

    [Fact]
    public void A_slow_writer_gets_one_more_round_when_it_would_at_least_halve_the_downtime()
    {
        var policy = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(50) });
        // 30 ms left fits the limit, but the guest writes 80 MB/s: sending those 30 MB leaves ~2.4 MB.
        var decision = policy.Decide(1, 30_000_000, Bandwidth, Early, dirtyBytesPerSecond: 80_000_000);
        Assert.Equal(ConvergencePolicy.Step.Continue, decision.Step);
        Assert.Contains("one more round", decision.Reason);
        // 2.4 ms left is under a tenth of the limit: the switchover's fixed latency dominates, so go.
        decision = policy.Decide(2, 2_400_000, Bandwidth, Early, dirtyBytesPerSecond: 80_000_000);
        Assert.Equal(ConvergencePolicy.Step.Switchover, decision.Step);
        Assert.StartsWith("converged", decision.Reason);
        Assert.EndsWith("after 1 more round to shrink it", decision.Reason);
    }

    [Fact]
    public void A_fast_writer_switches_over_as_soon_as_the_limit_is_met()
    {
        var policy = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(50) });
        // 800 MB/s of writes would dirty 24 of the 30 MB again while they are sent: no gain worth a round.
        Assert.Equal(ConvergencePolicy.Step.Switchover, policy.Decide(1, 30_000_000, Bandwidth, Early, dirtyBytesPerSecond: 800_000_000).Step);
    }

    [Fact]
    public void Extra_rounds_are_capped_and_never_pass_the_round_limit()
    {
        var policy = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(50) });
        var steps = Enumerable.Range(1, ConvergencePolicy.MaxExtraRounds + 1)
            .Select(round => policy.Decide(round, 30_000_000, Bandwidth, Early, dirtyBytesPerSecond: 80_000_000).Step).ToList();
        Assert.All(steps.Take(ConvergencePolicy.MaxExtraRounds), s => Assert.Equal(ConvergencePolicy.Step.Continue, s));
        Assert.Equal(ConvergencePolicy.Step.Switchover, steps[^1]);

        var limited = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(50), MaxRounds = 2 });
        Assert.Equal(ConvergencePolicy.Step.Switchover, limited.Decide(2, 30_000_000, Bandwidth, Early, dirtyBytesPerSecond: 80_000_000).Step);
    }

    [Fact]
    public void Rounds_that_stop_shrinking_switch_over_only_when_forced()
    {
        var forced = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(1), OnNoConverge = NoConvergeAction.Force });
        Assert.Equal(ConvergencePolicy.Step.Continue, forced.Decide(1, 500_000_000, Bandwidth, Early).Step);
        Assert.Equal(ConvergencePolicy.Step.Continue, forced.Decide(2, 500_000_000, Bandwidth, Early).Step);
        var decision = forced.Decide(3, 499_000_000, Bandwidth, Early);
        Assert.Equal(ConvergencePolicy.Step.Switchover, decision.Step);
        Assert.Contains("stopped shrinking", decision.Reason);
        Assert.Contains("--on-no-converge force", decision.Reason);

        // By default pre-copy keeps its promise: it iterates on (the rate may drop) and never pauses past the limit.
        var promised = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(1), MaxRounds = 5 });
        for (int round = 1; round < 5; round++) Assert.Equal(ConvergencePolicy.Step.Continue, promised.Decide(round, 500_000_000, Bandwidth, Early).Step);
        decision = promised.Decide(5, 500_000_000, Bandwidth, Early);
        Assert.Equal(ConvergencePolicy.Step.GiveUp, decision.Step);
        Assert.Contains("limit of 5 rounds", decision.Reason);
    }

    [Fact]
    public void Hybrid_goes_post_copy_when_the_rounds_stop_shrinking_or_its_time_is_up()
    {
        var hybrid = new ConvergencePolicy(new MigrationOptions { Mode = MigrationMode.Hybrid, MaxDowntime = TimeSpan.FromMilliseconds(1) });
        hybrid.Decide(1, 500_000_000, Bandwidth, Early);
        hybrid.Decide(2, 500_000_000, Bandwidth, Early);
        var decision = hybrid.Decide(3, 499_000_000, Bandwidth, Early);
        Assert.Equal(ConvergencePolicy.Step.PostCopy, decision.Step);
        Assert.Contains("switching to post-copy", decision.Reason);

        var timed = new ConvergencePolicy(new MigrationOptions { Mode = MigrationMode.Hybrid, MaxDowntime = TimeSpan.FromMilliseconds(1), PostCopyAfter = TimeSpan.FromSeconds(2) });
        Assert.Equal(ConvergencePolicy.Step.Continue, timed.Decide(1, 900_000_000, Bandwidth, TimeSpan.FromSeconds(1)).Step);
        decision = timed.Decide(2, 100_000_000, Bandwidth, TimeSpan.FromSeconds(3));
        Assert.Equal(ConvergencePolicy.Step.PostCopy, decision.Step);
        Assert.Contains("--postcopy-after", decision.Reason);

        // Converging in time, hybrid switches over as pre-copy does: no post-copy phase at all.
        var converging = new ConvergencePolicy(new MigrationOptions { Mode = MigrationMode.Hybrid, MaxDowntime = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(ConvergencePolicy.Step.Switchover, converging.Decide(1, 10_000_000, Bandwidth, Early).Step);
    }

    [Fact]
    public void Auto_converge_throttles_step_by_step_before_it_gives_in()
    {
        var policy = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(1), AutoConverge = true, MaxRounds = 1000, OnNoConverge = NoConvergeAction.Force });
        var throttles = new List<int>();
        ConvergencePolicy.Decision decision;
        int round = 1;
        do
        {
            decision = policy.Decide(round++, 500_000_000, Bandwidth, Early);
            if (decision.Step == ConvergencePolicy.Step.Throttle) throttles.Add(policy.ThrottlePercent);
        } while (decision.Step is ConvergencePolicy.Step.Continue or ConvergencePolicy.Step.Throttle);

        Assert.Equal([20, 30, 40, 50, 60, 70, 80, 90, 99], throttles);
        Assert.Equal(ConvergencePolicy.Step.Switchover, decision.Step);
        Assert.Contains("throttled to 99 %", decision.Reason);
    }

    [Fact]
    public void The_round_limit_forces_a_switchover_when_forced_and_the_timeout_gives_up_by_default()
    {
        var limited = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(1), MaxRounds = 3, OnNoConverge = NoConvergeAction.Force });
        Assert.Equal(ConvergencePolicy.Step.Continue, limited.Decide(2, 900_000_000, Bandwidth, Early).Step);
        Assert.Equal(ConvergencePolicy.Step.Switchover, limited.Decide(3, 800_000_000, Bandwidth, Early).Step);

        var timed = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(1), Timeout = TimeSpan.FromSeconds(5) });
        var decision = timed.Decide(2, 800_000_000, Bandwidth, TimeSpan.FromSeconds(6));
        Assert.Equal(ConvergencePolicy.Step.GiveUp, decision.Step);
        Assert.Contains("5 s timeout", decision.Reason);
    }

    [Fact]
    public void The_destination_latency_counts_against_the_limit_but_never_blocks_an_empty_round()
    {
        var policy = new ConvergencePolicy(new MigrationOptions { MaxDowntime = TimeSpan.FromMilliseconds(50) });
        // 40 ms to send plus 20 ms of fixed latency exceeds the limit: go on.
        Assert.Equal(ConvergencePolicy.Step.Continue, policy.Decide(1, 40_000_000, Bandwidth, Early, TimeSpan.FromMilliseconds(20)).Step);
        // Nothing left: switch over even if the latency alone is over the limit.
        Assert.Equal(ConvergencePolicy.Step.Switchover, policy.Decide(2, 0, Bandwidth, Early, TimeSpan.FromMilliseconds(80)).Step);
    }

    [Fact]
    public void Expected_downtime_is_what_is_left_over_the_bandwidth()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(25), ConvergencePolicy.ExpectedDowntime(25_000_000, Bandwidth));
        Assert.Equal(TimeSpan.MaxValue, ConvergencePolicy.ExpectedDowntime(1, 0));
    }
}
