namespace Ferry.Compare.Output;

/// <summary>One rendered plot: its file name (without extension), its title, and the same picture as SVG and PNG.</summary>
public sealed record PlotImage(string Name, string Title, string Svg, byte[] Png);
