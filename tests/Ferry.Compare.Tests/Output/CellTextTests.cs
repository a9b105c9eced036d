using Ferry.Compare.Output;

namespace Ferry.Compare.Tests.Output;

public sealed class CellTextTests
{
    [Theory]
    [InlineData(11.5, 11, 12, FigureUnit.Milliseconds, "11.5 ms (11.0–12.0)")]
    [InlineData(250, 240, 260.4, FigureUnit.Milliseconds, "250 ms (240–260)")]
    [InlineData(12_340, 12_000, 13_000, FigureUnit.Milliseconds, "12.3 s (12.0–13.0)")]
    [InlineData(3 << 20, 3 << 20, 3 << 20, FigureUnit.Bytes, "3.0 MiB")]
    [InlineData(1.5 * (1 << 30), 1 << 30, 2L << 30, FigureUnit.Bytes, "1.50 GiB (1.00–2.00)")]
    [InlineData(1.2345, 1.2, 1.3, FigureUnit.Ratio, "1.23 (1.20–1.30)")]
    [InlineData(12_345, 12_000, 13_000, FigureUnit.Count, "12,345 (12,000–13,000)")]
    [InlineData(0.123, 0.1, 0.15, FigureUnit.Fraction, "12.3% (10.0–15.0)")]
    [InlineData(85, 80, 90, FigureUnit.Microseconds, "85.0 µs (80.0–90.0)")]
    [InlineData(1234, 1000, 1500, FigureUnit.Microseconds, "1234 µs (1000–1500)")]
    public void A_cell_is_the_median_in_a_unit_then_min_to_max(double median, double min, double max, FigureUnit unit, string expected) =>
        Assert.Equal(expected, CellText.Of(new Spread(median, min, max), unit));

    [Fact]
    public void No_value_is_a_dash() => Assert.Equal("—", CellText.Of(null, FigureUnit.Milliseconds));

    [Fact]
    public void An_error_over_several_lines_becomes_one() => Assert.Equal("a b c", CellText.OneLine("a\r\n b\n\tc\n"));

    [Theory]
    [InlineData(42.13, "42.1 s")]
    [InlineData(754.2, "12 min 34 s")]
    [InlineData(7380, "2 h 3 min")]
    public void Durations_read_as_a_person_says_them(double seconds, string expected) => Assert.Equal(expected, CellText.Duration(seconds));
}
