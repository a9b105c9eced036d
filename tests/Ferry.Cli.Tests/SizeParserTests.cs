using Ferry.Api;
namespace Ferry.Cli.Tests;

public sealed class SizeParserTests
{
    [Theory]
    [InlineData("1G", 1UL << 30)]
    [InlineData("1g", 1UL << 30)]
    [InlineData("512M", 512UL << 20)]
    [InlineData("16GiB", 16UL << 30)]
    [InlineData("64K", 64UL << 10)]
    [InlineData("4096", 4096UL)]
    [InlineData("2T", 2UL << 40)]
    public void Sizes_are_binary(string text, ulong bytes)
    {
        Assert.True(SizeParser.TryParse(text, out ulong parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("1X")]
    [InlineData("-1G")]
    [InlineData("1.5G")]
    [InlineData("99999999999999999999G")]
    public void Nonsense_is_refused(string text) => Assert.False(SizeParser.TryParse(text, out _));

    [Theory]
    [InlineData("2000000000000000000000000000s")] // found by the fuzzing campaign: a TimeSpan overflow
    [InlineData("5000800000000000000000M")]
    [InlineData("31d")]
    [InlineData("721h")]
    public void Durations_beyond_30_days_or_without_a_unit_are_refused(string text) => Assert.False(RateParser.TryParseDuration(text, out _));

    [Fact]
    public void Thirty_days_is_the_longest_duration() => Assert.True(RateParser.TryParseDuration("720h", out var d) && d == TimeSpan.FromDays(30));
}
