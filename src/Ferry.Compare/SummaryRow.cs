namespace Ferry.Compare;

/// <summary>
/// One technique at one sweep point: how many of its runs went well or failed, the first failure's
/// error, and every <see cref="Figure"/> over its ok runs.
/// </summary>
public sealed record SummaryRow
{
    /// <summary>The sweep value, as written; null without a sweep.</summary>
    public required string? Point { get; init; }
    public required string Technique { get; init; }
    public required int OkRuns { get; init; }
    public required int FailedRuns { get; init; }
    /// <summary>The error of the first failed run (lowest run number); null when none failed.</summary>
    public string? FirstError { get; init; }
    /// <summary>One entry per <see cref="Figure.All"/>, in that order; null where no ok run has the figure.</summary>
    public required IReadOnlyList<Spread?> Figures { get; init; }

    public Spread? this[Figure figure] => Figures[IndexOf(figure)];

    /// <summary>Planned but not measured yet (an interrupted comparison).</summary>
    public bool NotRun => OkRuns == 0 && FailedRuns == 0;
    public bool AllFailed => OkRuns == 0 && FailedRuns > 0;

    private static int IndexOf(Figure figure)
    {
        for (int i = 0; i < Figure.All.Count; i++)
            if (ReferenceEquals(Figure.All[i], figure)) return i;
        throw new ArgumentException($"figure {figure.Key} is not one of Figure.All", nameof(figure));
    }
}
