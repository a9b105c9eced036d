using Ferry.Migration;
using Ferry.Migration.Source;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;
using Ferry.Api;

namespace Ferry.Vmm.Tests.Operations;

/// <summary>What a migrate request turns into: defaults, and refusals with one-line reasons.</summary>
public sealed class MigrationPlanTests
{
    private static MigrateRequest Precopy() => new("127.0.0.1:7000", "precopy", "");

    [Fact]
    public void A_capped_link_compresses_unless_told_not_to()
    {
        Assert.False(MigrationPlan.From(Precopy()).Options.Compress);
        Assert.True(MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = 1_000_000_000 }).Options.Compress);
        Assert.False(MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = 1_000_000_000, Compress = "none" }).Options.Compress);
        Assert.True(MigrationPlan.From(Precopy() with { Compress = "lz4" }).Options.Compress);
    }

    [Theory]
    [InlineData(5_000_000L, null, "--bandwidth must be at least 10Mbit")]
    [InlineData(null, "zstd", "--compress zstd: use lz4 or none")]
    public void Bad_options_are_refused_with_their_reason(long? bandwidth, string? compress, string reason)
    {
        var e = Assert.Throws<MigrationException>(() => MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = bandwidth, Compress = compress }));
        Assert.Equal(reason, e.Message);
    }

    [Fact]
    public void Each_live_mode_has_its_own_answer_to_rounds_that_cannot_meet_the_limit()
    {
        Assert.Equal(NoConvergeAction.Abort, MigrationPlan.From(Precopy()).Options.NoConverge);
        var hybrid = MigrationPlan.From(Precopy() with { Mode = "hybrid", PostCopyAfterSeconds = 10 });
        Assert.Equal(MigrationMode.Hybrid, hybrid.Mode);
        Assert.Equal(NoConvergeAction.PostCopy, hybrid.Options.NoConverge);
        Assert.Equal(TimeSpan.FromSeconds(10), hybrid.Options.PostCopyAfter);
        Assert.Equal(NoConvergeAction.Force, MigrationPlan.From(Precopy() with { OnNoConverge = "force" }).Options.NoConverge);
        Assert.Equal(MigrationMode.PostCopy, MigrationPlan.From(Precopy() with { Mode = "postcopy" }).Options.Mode);
    }

    [Fact]
    public void A_cold_migration_takes_only_its_streams_and_goes_at_the_links_full_rate()
    {
        var cold = MigrationPlan.From(Precopy() with { Mode = "cold", Streams = 3, BandwidthBitsPerSecond = 1_000_000_000, VerifyMemory = true });
        Assert.Equal(MigrationMode.Cold, cold.Mode);
        Assert.Equal(new MigrationOptions { Mode = MigrationMode.Cold, Streams = 3 }, cold.Options);
    }

    [Fact]
    public void The_stop_and_copy_keeps_the_bandwidth_cap_unless_told_otherwise()
    {
        var capped = MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = 500_000_000 }).Options;
        Assert.Null(capped.SwitchoverBandwidthBytesPerSecond);
        Assert.False(capped.UnlimitedSwitchover);
        Assert.Equal(1_250_000_000, MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = 500_000_000, SwitchoverBandwidthBitsPerSecond = 10_000_000_000 })
            .Options.SwitchoverBandwidthBytesPerSecond);
    }

    [Theory]
    [InlineData("precopy", "postcopy", null, null, "--on-no-converge postcopy needs --mode hybrid (a pre-copy opens no fault stream)")]
    [InlineData("precopy", "sometimes", null, null, "--on-no-converge sometimes: use abort, force or postcopy")]
    [InlineData("postcopy", null, 5.0, null, "--postcopy-after applies to --mode hybrid")]
    [InlineData("hybrid", null, null, 16, "--streams must be 1 to 15 in hybrid mode")]
    [InlineData("teleport", null, null, null, "migration mode teleport is not supported (this ferry does: cold, precopy, postcopy, hybrid)")]
    public void Bad_live_options_are_refused_with_their_reason(string mode, string? onNoConverge, double? postCopyAfter, int? streams, string reason)
    {
        var e = Assert.Throws<MigrationException>(() => MigrationPlan.From(Precopy() with
        { Mode = mode, OnNoConverge = onNoConverge, PostCopyAfterSeconds = postCopyAfter, Streams = streams }));
        Assert.Equal(reason, e.Message);
    }
}
