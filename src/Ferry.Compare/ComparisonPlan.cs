namespace Ferry.Compare;

/// <summary>
/// What a user asked `ferry compare` to measure: enough to run the same comparison again
/// (`ferry compare --from-report report.json` reads it back). Sizes, rates and durations are kept
/// as the user wrote them (<c>4G</c>, <c>1Gbit</c>, <c>50ms</c>) and handed to `ferry` unchanged.
/// </summary>
public sealed record ComparisonPlan
{
    public required string Kernel { get; init; }
    public required string Initrd { get; init; }
    /// <summary>Guest RAM, e.g. <c>4G</c>.</summary>
    public required string Memory { get; init; }
    public int Cpus { get; init; } = 2;
    /// <summary>The guest's workload program and its arguments, e.g. <c>memtouch --mb 1024 --rate 20000</c>.</summary>
    public required string Workload { get; init; }
    /// <summary>Ferry's techniques to run, in this order: cold, precopy, postcopy, hybrid.</summary>
    public IReadOnlyList<string> Techniques { get; init; } = ["cold", "precopy", "postcopy", "hybrid"];
    public int Runs { get; init; } = 5;
    /// <summary>The link's cap for every technique (decimal bits per second, e.g. <c>1Gbit</c>); null: none.</summary>
    public string? Bandwidth { get; init; }
    public string MaxDowntime { get; init; } = "50ms";
    /// <summary>Pre-copy and hybrid: rounds at most before --on-no-converge decides; null: ferry's default.</summary>
    public int? MaxRounds { get; init; }
    /// <summary>Each migration's --timeout (pre-copy and hybrid rounds), e.g. <c>60s</c>.</summary>
    public string Timeout { get; init; } = "60s";
    /// <summary>The variable swept and its values; null: one point.</summary>
    public Sweep? Sweep { get; init; }
    /// <summary>Add QEMU's pre-copy and post-copy on the same guest as extra rows.</summary>
    public bool PeerQemu { get; init; }
    /// <summary>How long the workload runs after its ready line before the migration starts (its rate before).</summary>
    public double SettleSeconds { get; init; } = 2;
    /// <summary>Between two host agents (`--from HOST --to HOST`, names from the client configuration or ADDR:PORT); null: on this host.</summary>
    public string? From { get; init; }
    public string? To { get; init; }
}

/// <summary>
/// A swept variable: <c>rate</c> or <c>mb</c> (the workload's --rate or --mb) or <c>bandwidth</c>
/// (the link's cap), with the values to try, as written.
/// </summary>
public sealed record Sweep(string Variable, IReadOnlyList<string> Values);
