using System.Buffers.Binary;
using System.Xml.Linq;
using Ferry.Compare.Output;
using Ferry.Compare.Tests.Infrastructure;
using SkiaSharp;

namespace Ferry.Compare.Tests.Output;

public sealed class PlotsTests
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The SVG is well-formed XML with an svg root and more in it than an empty frame.</summary>
    internal static void AssertSvg(string svg)
    {
        var root = XDocument.Parse(svg).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.True(svg.Length > 10_000, $"SVG of {svg.Length} characters: too small to hold a plot");
    }

    /// <summary>A PNG of the asked size (from IHDR) that is a picture, not one flat colour.</summary>
    internal static void AssertPng(byte[] png)
    {
        Assert.Equal(PngSignature, png[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(Plots.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(Plots.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal((Plots.Width, Plots.Height), (bitmap.Width, bitmap.Height));
        var colours = new HashSet<SKColor>();
        for (int y = 0; y < bitmap.Height; y += 3)
            for (int x = 0; x < bitmap.Width; x += 3)
                colours.Add(bitmap.GetPixel(x, y));
        // Lines in six colours, text and grid, all anti-aliased: hundreds of colours.
        Assert.True(colours.Count > 50, $"only {colours.Count} colours: a blank render?");
    }

    [Fact]
    public void A_sweep_gives_downtime_total_time_and_bytes_against_the_variable()
    {
        var plots = Plots.Render(SampleReports.Swept());
        Assert.Equal(["downtime", "total", "bytes"], plots.Select(p => p.Name));
        Assert.Equal(["Downtime vs rate", "Total time vs rate", "Bytes sent vs rate"], plots.Select(p => p.Title));
        foreach (var plot in plots)
        {
            AssertSvg(plot.Svg);
            AssertPng(plot.Png);
        }
    }

    [Fact]
    public void Without_a_sweep_each_figure_is_a_bar_per_technique()
    {
        var plots = Plots.Render(SampleReports.Unswept());
        Assert.Equal(["Downtime by technique", "Total time by technique", "Bytes sent by technique"], plots.Select(p => p.Title));
        foreach (var plot in plots)
        {
            AssertSvg(plot.Svg);
            AssertPng(plot.Png);
        }
    }

    [Fact]
    public void A_sweep_of_one_point_is_drawn_as_bars_and_names_the_point()
    {
        var report = SampleReports.Report(new Sweep("mb", ["512"]), ["512"]);
        Assert.Equal("Downtime by technique, mb = 512 MiB", Plots.Render(report)[0].Title);
    }

    [Fact]
    public void Nothing_to_draw_when_no_run_went_well()
    {
        var report = SampleReports.Swept();
        report = report with { Runs = [.. report.Runs.Select(r => SampleReports.Failed(r.Technique, r.Point, r.Run, "down"))] };
        Assert.Empty(Plots.Render(report));
    }

    [Fact]
    public void A_point_with_no_value_splits_the_line_instead_of_dropping_to_zero()
    {
        Spread s = new(1, 1, 1);
        Assert.Equal([[0, 1], [3]], Plots.Segments([s, s, null, s]));
        Assert.Equal([[1]], Plots.Segments([null, s, null]));
        Assert.Empty(Plots.Segments([null, null]));
    }

    [Fact]
    public void A_sweep_over_values_that_are_not_numbers_still_plots()
    {
        var report = SampleReports.Report(new Sweep("bandwidth", ["1Gbit", "10Gbit", "unlimited"]), ["1Gbit", "10Gbit", "unlimited"]);
        Assert.Equal(3, Plots.Render(report).Count);
    }
}
