using Ferry.Compare.Output;

namespace Ferry.Compare.Tests.Output;

public sealed class SweepAxisTests
{
    [Theory]
    [InlineData("10000", 1e4)]
    [InlineData("1Gbit", 1e9)]
    [InlineData("500Mbit", 5e8)]
    [InlineData("2.5G", 2.5e9)]
    [InlineData("100kbps", 1e5)]
    [InlineData("1024", 1024)]
    public void Values_as_written_become_numbers(string text, double expected)
    {
        Assert.True(SweepAxis.TryParseNumber(text, out double value));
        Assert.Equal(expected, value);
    }

    [Fact]
    public void Values_a_decade_apart_go_on_a_log_axis()
    {
        var axis = SweepAxis.For("rate", ["1000", "10000", "100000"]);
        Assert.Equal([3, 4, 5], axis.Positions.Select(p => Math.Round(p, 9)));
        Assert.Equal(["1000", "10000", "100000"], axis.TickLabels);
        Assert.Equal("rate (pages/s), log scale", axis.Label);
    }

    [Fact]
    public void Close_values_stay_linear_with_the_variable_and_its_unit()
    {
        var axis = SweepAxis.For("mb", ["256", "512", "1024"]);
        Assert.Equal([256, 512, 1024], axis.Positions);
        Assert.Equal("mb (MiB)", axis.Label);
    }

    [Fact]
    public void Bandwidths_are_spaced_by_bits_per_second_and_labelled_as_written()
    {
        var axis = SweepAxis.For("bandwidth", ["100Mbit", "1Gbit", "10Gbit"]);
        Assert.Equal([8, 9, 10], axis.Positions.Select(p => Math.Round(p, 9)));
        Assert.Equal(["100Mbit", "1Gbit", "10Gbit"], axis.TickLabels);
        Assert.StartsWith("bandwidth (bit/s)", axis.Label, StringComparison.Ordinal);
    }

    [Fact]
    public void Values_that_are_not_numbers_are_spaced_evenly_in_order()
    {
        var axis = SweepAxis.For("mode", ["fast", "slow"]);
        Assert.Equal([0, 1], axis.Positions);
        Assert.Equal(["fast", "slow"], axis.TickLabels);
    }
}
