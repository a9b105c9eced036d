using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Ferry.Compare.Running;

/// <summary>
/// QEMU's own pre-copy or post-copy on the same guest files, workload and limits, through the
/// project's QEMU peer harness (<c>run-migration.sh</c>: QMP, console time-stamps, the same
/// heartbeat analysis as ours). The harness boots one guest and migrates it <c>runs</c> times in
/// a row (A→B→C…), so one QEMU boot serves every run of a point.
/// </summary>
public static class QemuPeerRuns
{
    public static IReadOnlyList<RunResult> Run(RunSettings s, string peerDirectory, string technique, string? point, int runs,
        CancellationToken cancellationToken)
    {
        string mode = technique == "qemu-postcopy" ? "postcopy" : "precopy";
        string out_ = Path.Combine(s.LogDirectory, $"{(point is null ? "" : $"{point}-")}{technique}");
        Directory.CreateDirectory(out_);
        var workload = s.Workload.WithFineHeartbeat();
        var args = new List<string>
        {
            "--mode", mode, "--repeat", runs.ToString(CultureInfo.InvariantCulture), "--mem", s.Memory, "--cpus", s.Cpus.ToString(CultureInfo.InvariantCulture),
            "--kernel", s.Kernel, "--initrd", s.Initrd, "--base-append", $"console=ttyS0 {workload.KernelCommandLine}",
            "--ready", workload.ReadyLine, "--hb-regex", @"^HB (?P<seq>\d+) (?P<ns>\d+) (?P<pages>\d+)",
            "--downtime-ms", Math.Max(1, (int)Math.Round(s.MaxDowntimeMs)).ToString(CultureInfo.InvariantCulture),
            "--bandwidth", s.BandwidthBitsPerSecond is { } bits ? (bits / 8.0 / (1 << 20)).ToString("0.###", CultureInfo.InvariantCulture) : "unlimited",
            // QEMU's pre-copy gives up (migrate_cancel) after the same time as Ferry's.
            "--timeout", s.TimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            "--settle", s.SettleSeconds.ToString(CultureInfo.InvariantCulture), "--post-wait", s.PostWaitSeconds.ToString(CultureInfo.InvariantCulture),
            "--out", out_,
        };
        var start = new ProcessStartInfo(Path.Combine(peerDirectory, "run-migration.sh")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["SKIP_APT"] = "1";
        start.Environment["WORK"] = out_;
        File.WriteAllText(Path.Combine(out_, "command"), $"{start.FileName} {string.Join(' ', args.Select(Quote))}\n");
        var results = new List<RunResult>();
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {start.FileName}");
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        // The peer stops its own QEMUs on SIGINT; a cancelled comparison asks it to.
        using var stop = cancellationToken.Register(() => { try { Interrupt(p.Id); } catch (Exception) { } });
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
            if (FromPeerLine(line, technique, point) is { } result) results.Add(result);
        p.WaitForExit();
        File.WriteAllText(Path.Combine(out_, "peer.stderr"), stderr.Result);
        string why = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit {p.ExitCode}";
        // Runs the peer never got to (its guest did not boot, QEMU refused an option) fail with its last words.
        for (int r = results.Count + 1; r <= runs && !cancellationToken.IsCancellationRequested; r++)
            results.Add(new RunResult { Technique = technique, Point = point, Run = r, Ok = false, Error = $"the QEMU peer did not run it: {why}" });
        return results;
    }

    /// <summary>One JSON line of run-migration.sh as a run of the table; null for any other line.</summary>
    public static RunResult? FromPeerLine(string line, string technique, string? point)
    {
        JsonElement j;
        try { j = JsonDocument.Parse(line).RootElement; }
        catch (JsonException) { return null; }
        if (j.ValueKind != JsonValueKind.Object || !j.TryGetProperty("run", out var runElement)) return null;
        string status = Text(j, "status") ?? "?";
        bool moved = status == "completed";
        bool healthy = j.TryGetProperty("dst_guest_ok", out var ok) && ok.ValueKind == JsonValueKind.True;
        double? gap = Number(j, "guest_downtime_ms"), baseline = Number(j, "baseline_max_hb_gap_ms");
        // QEMU 7.2 now and then answers a finished migration's query-migrate with total-time and
        // downtime 0 (seen here once in 40 runs, its host wall time 8.6 s): not a measurement.
        double? total = Number(j, "total_time_ms") is > 0 and var t ? t : null;
        return new RunResult
        {
            Technique = technique,
            Point = point,
            Run = runElement.TryGetInt32(out int run) ? run : 0,
            Ok = moved && healthy,
            Error = !moved ? $"QEMU: {status}{(Text(j, "error") is { } e ? $": {e}" : "")}" : healthy ? null : "QEMU: the destination guest is not healthy",
            DowntimeMs = total is null ? null : Number(j, "downtime_ms"),
            GuestDowntimeMs = gap is { } g && baseline is { } b ? Math.Round(g - b, 2) : null,
            TotalMs = total,
            BytesSent = Number(j, "ram_transferred") is { } bytes ? (long)bytes : null,
            Faults = technique == "qemu-postcopy" && Number(j, "postcopy_requests") is { } requests ? (long)requests : null,
            WindowMs = technique == "qemu-postcopy" ? null : 0,
        };
    }

    private static string? Text(JsonElement j, string name) => j.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    private static double? Number(JsonElement j, string name) => j.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static string Quote(string a) => a.Contains(' ') || a.Contains('"') ? $"'{a}'" : a;

    private static void Interrupt(int pid) => Process.Start("kill", ["-INT", pid.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
}
