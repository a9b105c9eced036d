namespace Ferry.Compare;

/// <summary>
/// A comparison as it stands: what was asked, under what conditions, and every run measured so
/// far. Written as report.json after each run, so an interrupted comparison keeps what it has
/// (<see cref="Complete"/> false, <see cref="Interruption"/> says why).
/// </summary>
public sealed record ComparisonReport
{
    public required ComparisonPlan Plan { get; init; }
    public required Conditions Conditions { get; init; }
    public required IReadOnlyList<RunResult> Runs { get; init; }
    public bool Complete { get; init; }
    public string? Interruption { get; init; }
    /// <summary>Wall-clock time the comparison took so far.</summary>
    public double ElapsedSeconds { get; init; }
}
