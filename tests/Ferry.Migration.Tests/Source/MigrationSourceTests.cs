using Ferry.Migration.Cold;
using Ferry.Migration.PostCopy;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Source;
using Ferry.Migration.Transport;

namespace Ferry.Migration.Tests.Source;

/// <summary>The one source picks what each mode does its own way; the behaviour of each is tested per mode (Cold/, PreCopy/, PostCopy/).</summary>
public sealed class MigrationSourceTests
{
    [Theory]
    [InlineData(MigrationMode.Cold, typeof(ColdStrategy))]
    [InlineData(MigrationMode.PreCopy, typeof(PreCopyStrategy))]
    [InlineData(MigrationMode.Hybrid, typeof(PreCopyStrategy))] // its rounds decide the switch to post-copy
    [InlineData(MigrationMode.PostCopy, typeof(PostCopyStrategy))]
    public void Each_mode_runs_its_own_strategy(MigrationMode mode, Type strategy) =>
        Assert.IsType(strategy, new MigrationSource().StrategyFor(new MigrationOptions { Mode = mode }));

    [Fact]
    public void A_mode_it_does_not_know_is_refused_before_anything_connects() =>
        Assert.Throws<ArgumentException>(() => new MigrationSource().StrategyFor(new MigrationOptions { Mode = (MigrationMode)99 }));

    [Fact]
    public void Only_a_mode_with_a_fault_stream_can_be_asked_to_switch_to_post_copy()
    {
        Assert.False(new MigrationSource().RequestPostCopy(new MigrationOptions { Mode = MigrationMode.Cold }));
        Assert.True(new MigrationSource().RequestPostCopy(new MigrationOptions { Mode = MigrationMode.Hybrid }));
    }
}
