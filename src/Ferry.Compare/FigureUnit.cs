namespace Ferry.Compare;

/// <summary>The unit a <see cref="Figure"/> is measured in, which decides how it is printed.</summary>
public enum FigureUnit
{
    Milliseconds,
    Bytes,
    /// <summary>A plain ratio (bytes sent ÷ non-zero bytes).</summary>
    Ratio,
    Count,
    Microseconds,
    /// <summary>0..1, printed as a percentage.</summary>
    Fraction,
}
