using System.Text.Json;
using Ferry.Api;
using Ferry.Compare.Measuring;

namespace Ferry.Compare.Running;

/// <summary>
/// One Ferry migration turned into its <see cref="RunResult"/>: the report `--json` printed, and
/// what the two consoles say (heartbeats for the guest-observed downtime and the slowdown, and any
/// complaint of the guest). Shared by the runs on this host and the runs between agents.
/// </summary>
internal static class RunMeasurement
{
    /// <param name="migrate">What the migrate command gave: its exit code and output (the last stdout line is the JSON status).</param>
    /// <param name="settleFrom">Host seconds when the settle time began (the workload's pace before).</param>
    /// <param name="t0">When the migrate command started; <paramref name="tEnd"/>, when it ended.</param>
    public static RunResult Measure(RunResult run, string technique, (int Exit, string Stdout, string Stderr) migrate,
        IReadOnlyList<Heartbeat> sourceBeats, IReadOnlyList<Heartbeat> destinationBeats, IReadOnlyList<string> sourceLines, IReadOnlyList<string> destinationLines,
        double settleFrom, double t0, double tEnd, double postWaitSeconds)
    {
        var status = ParseStatus(migrate.Stdout);
        var report = status?.Report;
        bool completed = migrate.Exit == 0 && status?.Phase == OperationStatus.Completed;
        var heartbeats = sourceBeats.Concat(completed ? destinationBeats : []).OrderBy(h => h.HostSeconds).ToList();
        bool heartbeating = sourceBeats.Count > 0;
        string? guestProblem = GuestProblem(completed ? destinationLines : sourceLines);
        bool beatsAtDestination = !heartbeating || destinationBeats.Any(h => h.HostSeconds >= t0);
        string? error = !completed ? OneLine(status?.Message is { Length: > 0 } m ? m : LastLine(migrate.Stderr) ?? $"ferry migrate exited {migrate.Exit}")
            : guestProblem ?? (beatsAtDestination ? null : "the guest printed no heartbeat at the destination");

        // The first half second of the settle time is the workload finding its pace.
        var seen = GuestObserved.Of(heartbeats, settleFrom + 0.5, t0, tEnd, tEnd + postWaitSeconds);
        long? firstPass = report is null ? null : FirstPassPages(technique, report);
        return run with
        {
            Ok = error is null,
            Error = error,
            DowntimeMs = report?.DowntimeMs,
            GuestDowntimeMs = seen.DowntimeMs,
            TotalMs = report?.TotalMs,
            BytesSent = report?.BytesTransferred,
            BytesPerNonZeroByte = firstPass is > 0 && report is not null ? report.BytesTransferred / (firstPass.Value * 4096.0) : null,
            PagesResent = firstPass is { } f && report is not null ? Math.Max(0, report.PagesSent - f) : null,
            Faults = report?.PostCopy?.Faults,
            FaultP50Us = report?.PostCopy?.FaultLatencyP50Us,
            FaultP99Us = report?.PostCopy?.FaultLatencyP99Us,
            Slowdown = completed ? seen.Slowdown : null,
            WindowMs = report is null ? null : report.PostCopy?.WindowMs ?? 0,
        };
    }

    /// <summary>
    /// The guest's non-zero pages when the migration began: what its first full pass moved
    /// (cold: everything; pre-copy and hybrid: the warm-up round; post-copy: every page crosses once).
    /// </summary>
    private static long FirstPassPages(string technique, OperationReport report) => technique switch
    {
        "precopy" or "hybrid" when report.Rounds is { Count: > 0 } rounds => rounds[0].PagesSent,
        _ => report.PagesSent,
    };

    private static string? GuestProblem(IReadOnlyList<string> lines) =>
        lines.FirstOrDefault(l => l.Contains("ferry-guest: panic", StringComparison.Ordinal) || l.Contains("ferry-guest: fault", StringComparison.Ordinal)
            || l.Contains("memverify FAIL", StringComparison.Ordinal) || l.Contains("workload exited", StringComparison.Ordinal)) is { } line
            ? $"the guest said: {OneLine(line)}" : null;

    private static OperationStatus? ParseStatus(string stdout)
    {
        var last = LastLine(stdout);
        if (last is null) return null;
        try { return JsonSerializer.Deserialize(last, ApiJson.Default.OperationStatus); }
        catch (JsonException) { return null; }
    }

    public static string? LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();

    public static string OneLine(string text)
    {
        var line = new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]).Trim();
        return line.Length > 300 ? line[..300] + "..." : line;
    }
}
