using Ferry.Migration;
using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;

namespace Ferry.Vmm.Tests.Operations;

/// <summary>What a migrate request turns into: defaults, and refusals with one-line reasons.</summary>
public sealed class MigrationPlanTests
{
    private static MigrateRequest Precopy() => new("127.0.0.1:7000", "precopy", "");

    [Fact]
    public void A_capped_link_compresses_unless_told_not_to()
    {
        Assert.False(MigrationPlan.From(Precopy()).PreCopy.Compress);
        Assert.True(MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = 1_000_000_000 }).PreCopy.Compress);
        Assert.False(MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = 1_000_000_000, Compress = "none" }).PreCopy.Compress);
        Assert.True(MigrationPlan.From(Precopy() with { Compress = "lz4" }).PreCopy.Compress);
    }

    [Theory]
    [InlineData(5_000_000L, null, "--bandwidth must be at least 10Mbit")]
    [InlineData(null, "zstd", "--compress zstd: use lz4 or none")]
    public void Bad_options_are_refused_with_their_reason(long? bandwidth, string? compress, string reason)
    {
        var e = Assert.Throws<MigrationException>(() => MigrationPlan.From(Precopy() with { BandwidthBitsPerSecond = bandwidth, Compress = compress }));
        Assert.Equal(reason, e.Message);
    }
}
