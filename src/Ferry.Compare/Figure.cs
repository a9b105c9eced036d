namespace Ferry.Compare;

/// <summary>
/// One measured quantity of a run, in the order every table, CSV and legend shows it. The
/// meanings are those of <see cref="RunResult"/>'s docs, said once here so the Markdown legend, the
/// HTML legend and the CSV header cannot drift apart.
/// </summary>
public sealed class Figure
{
    /// <summary>Machine name, with its unit, as runs.jsonl names it: the CSV's column prefix.</summary>
    public string Key { get; }
    /// <summary>Column heading in the Markdown and HTML tables.</summary>
    public string Header { get; }
    public FigureUnit Unit { get; }
    /// <summary>One line for the legend under a table.</summary>
    public string Meaning { get; }
    private readonly Func<RunResult, double?> _of;

    private Figure(string key, string header, FigureUnit unit, string meaning, Func<RunResult, double?> of) =>
        (Key, Header, Unit, Meaning, _of) = (key, header, unit, meaning, of);

    /// <summary>This figure of one run; null when it does not apply or was not measured.</summary>
    public double? Of(RunResult run) => _of(run);

    public static readonly Figure Downtime = new("downtime_ms", "downtime", FigureUnit.Milliseconds,
        "the downtime the migration reported: source pause to destination resume", r => r.DowntimeMs);
    public static readonly Figure GuestDowntime = new("guest_downtime_ms", "guest downtime", FigureUnit.Milliseconds,
        "the longest gap in the guest's heartbeats as they reached the host, less the longest gap before the migration", r => r.GuestDowntimeMs);
    public static readonly Figure Total = new("total_ms", "total", FigureUnit.Milliseconds,
        "from the migrate command to the VM running at the destination with every page there", r => r.TotalMs);
    public static readonly Figure BytesSent = new("bytes_sent", "sent", FigureUnit.Bytes,
        "bytes sent over the link", r => r.BytesSent);
    public static readonly Figure BytesPerNonZero = new("bytes_per_non_zero_byte", "sent ÷ non-zero", FigureUnit.Ratio,
        "bytes sent ÷ the guest's non-zero memory at the start (4 KiB × the non-zero pages of the first full pass)", r => r.BytesPerNonZeroByte);
    public static readonly Figure PagesResent = new("pages_resent", "re-sent pages", FigureUnit.Count,
        "pages sent more than once (later rounds of a pre-copy)", r => r.PagesResent);
    public static readonly Figure Faults = new("faults", "faults", FigureUnit.Count,
        "post-copy: faults on pages not yet there", r => r.Faults);
    public static readonly Figure FaultP50 = new("fault_p50_us", "fault p50", FigureUnit.Microseconds,
        "post-copy: median service latency of a fault, as the guest felt it", r => r.FaultP50Us);
    public static readonly Figure FaultP99 = new("fault_p99_us", "fault p99", FigureUnit.Microseconds,
        "post-copy: 99th percentile of that latency", r => r.FaultP99Us);
    public static readonly Figure Slowdown = new("slowdown", "slowdown", FigureUnit.Fraction,
        "how much the workload slowed from the migrate command to the end, against its rate before (0%: unaffected; 100%: stopped)", r => r.Slowdown);
    public static readonly Figure Window = new("window_ms", "window", FigureUnit.Milliseconds,
        "how long a failure of the source host would have lost the VM (post-copy: switchover to the last page; 0 for cold and pre-copy)", r => r.WindowMs);

    public static IReadOnlyList<Figure> All { get; } =
        [Downtime, GuestDowntime, Total, BytesSent, BytesPerNonZero, PagesResent, Faults, FaultP50, FaultP99, Slowdown, Window];
}
