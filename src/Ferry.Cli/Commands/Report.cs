using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>Prints a finished operation (a few lines, or JSON with --json) and picks the exit code.</summary>
public static class Report
{
    public static int Print(OperationStatus status, bool json = false)
    {
        if (json) Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(status, ApiJson.Default.OperationStatus));
        if (status.Phase == OperationStatus.Completed)
        {
            if (!json)
            {
                Console.WriteLine(status.Message);
                if (status.Report is { } r) PrintFigures(r);
            }
            return (int)ExitCode.Ok;
        }
        Console.Error.WriteLine($"ferry: {status.Message}");
        return status.Phase == OperationStatus.OutcomeUnknown ? (int)ExitCode.MigrationOutcomeUnknown : (int)ExitCode.MigrationFailed;
    }

    private static void PrintFigures(OperationReport r)
    {
        Console.WriteLine($"  {Units.Bytes(r.BytesTransferred)} in {r.TotalMs:F0} ms (downtime {r.DowntimeMs:F1} ms): " +
                          $"{r.PagesSent} pages sent, {r.ZeroPagesSkipped} zero pages and {r.UntouchedPagesSkipped} untouched pages skipped");
        if (r.Storage is { } st)
            Console.WriteLine($"  disk: {Units.Bytes(st.DiskBytesSent)} sent in {st.BlocksSent} blocks of {Units.Bytes(st.BlockBytes)}, " +
                              $"{st.BlocksResent} sent again after the guest wrote them, " +
                              (r.PostCopy is null ? $"{st.BlocksAtSwitchover} while paused"
                                  : $"{st.BlocksAtSwitchover} after the switchover ({st.BlocksRequested} fetched on demand by the guest, the rest pushed)"));
        if (r.VmmCpuMs > 0) Console.WriteLine($"  VMM CPU outside the vCPUs: {r.VmmCpuMs:F0} ms (taken from the guest on a host without spare cores)");
        if (r.PostCopy is { } pc)
        {
            Console.WriteLine($"  post-copy: {pc.PagesAtSwitchover} pages were still here at the switchover: {pc.PagesPushed} pushed ({Units.Bytes(pc.BytesPushed)}), " +
                              $"{pc.PagesRequested} requested on faults ({Units.Bytes(pc.BytesRequested)})");
            Console.WriteLine($"  faults {pc.Faults} ({pc.ZeroFaults} resolved as zero at the destination), fault latency p50 {pc.FaultLatencyP50Us:F0} µs, " +
                              $"p99 {pc.FaultLatencyP99Us:F0} µs, max {pc.FaultLatencyMaxUs:F0} µs; every page there {pc.AllPresentAfterResumeMs:F0} ms after the resume");
            if (pc.BlockedTime is { Count: > 0 } blocked)
                Console.WriteLine("  blocked on missing pages: " + string.Join(", ", blocked.Select(b => $"{b.Thread} {b.BlockedMs:F1} ms")));
            Console.WriteLine($"  the VM depended on both hosts for {pc.WindowMs:F0} ms (losing the source in that window would have lost it)" +
                              (pc.Recoveries > 0 ? $"; the link broke and was reconnected {pc.Recoveries} time{(pc.Recoveries == 1 ? "" : "s")}" : ""));
        }
        if (r.Rounds is not { Count: > 0 } rounds) return;
        Console.WriteLine($"  setup {r.SetupMs:F1} ms, {rounds.Count} rounds, throughput {Units.Bytes((long)r.ThroughputBytesPerSecond)}/s; switched over: {r.SwitchoverReason}");
        if (r.DowntimePhases is { Count: > 0 } phases)
            Console.WriteLine("  downtime: " + string.Join(", ", phases.Select(p => $"{p.Phase} {p.Ms:F1} ms")));
        Console.WriteLine("  round   pages sent  zero pages        bytes    time   dirty pages/s  throttle");
        foreach (var x in rounds)
            Console.WriteLine($"  {(x.StopAndCopy ? "final" : x.Round.ToString()),5}  {x.PagesSent,11}  {x.ZeroPages,10}  {Units.Bytes(x.BytesSent),11}  {x.DurationMs,6:F1}ms  {x.DirtyPagesPerSecond,14:F0}  {x.ThrottlePercent,6} %");
    }
}

/// <summary>Human-readable quantities.</summary>
public static class Units
{
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };
}
