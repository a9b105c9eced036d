namespace Ferry.Compare;

/// <summary>The median, least and greatest of one figure over a group's ok runs.</summary>
public readonly record struct Spread(double Median, double Min, double Max)
{
    /// <summary>Null when there is no value: a figure no ok run has is "does not apply", not zero.</summary>
    public static Spread? Of(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        if (sorted.Length == 0) return null;
        int mid = sorted.Length / 2;
        // An even count takes the mean of the middle two, as statistics packages do.
        double median = sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        return new Spread(median, sorted[0], sorted[^1]);
    }
}
