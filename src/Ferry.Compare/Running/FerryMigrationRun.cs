using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ferry.Compare.Measuring;
using Ferry.Api;

namespace Ferry.Compare.Running;

/// <summary>
/// One migration of a fresh guest by one of Ferry's techniques, on this host: boot the source
/// (`ferry run`), wait for the workload, start a receiver (`ferry receive` on loopback), let the
/// workload settle, `ferry migrate --json`, then read the report and the two consoles.
/// </summary>
public static class FerryMigrationRun
{
    private static int _counter;

    public static RunResult Run(RunSettings s, string technique, string? point, int run, CancellationToken cancellationToken)
    {
        var result = new RunResult { Technique = technique, Point = point, Run = run, Ok = false };
        string tag = $"cmp{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        string logs = Path.Combine(s.LogDirectory, $"{(point is null ? "" : $"{point}-")}{technique}-{run}");
        var workload = s.Workload.WithFineHeartbeat();
        using var source = new VmmProcess(s.Ferry,
            ["run", "--kernel", s.Kernel, "--initrd", s.Initrd, "--memory", s.Memory, "--cpus", s.Cpus.ToString(CultureInfo.InvariantCulture),
             "--name", $"{tag}-src", "--console", "stdio", "--cmdline", workload.KernelCommandLine], $"{tag}-src", logs + "-source");
        if (!source.Console.WaitFor(workload.ReadyLine, s.BootTimeout))
            return result with { Error = source.Exited ? $"the source VM ended before its workload was ready: {source.LastError()}" : $"no '{workload.ReadyLine}' within {s.BootTimeout.TotalSeconds:0} s" };
        cancellationToken.ThrowIfCancellationRequested();

        int port = FreePort();
        using var destination = new VmmProcess(s.Ferry, ["receive", "--listen", $"127.0.0.1:{port}", "--name", $"{tag}-dst", "--console", "stdio"],
            $"{tag}-dst", logs + "-destination");
        if (!destination.StderrHas("waiting for a migration", TimeSpan.FromSeconds(30)))
            return result with { Error = $"ferry receive did not start: {destination.LastError()}" };

        double settleFrom = GuestConsole.Now;
        if (cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(s.SettleSeconds))) cancellationToken.ThrowIfCancellationRequested();
        var migrate = new List<string> { "migrate", "--name", source.Name, "--to", $"127.0.0.1:{port}", "--mode", technique, "--json" };
        // A cold migration pauses throughout: a downtime limit means nothing to it.
        if (technique != "cold") migrate.AddRange(["--max-downtime", s.MaxDowntime]);
        if (technique is "precopy" or "hybrid") migrate.AddRange(["--timeout", s.Timeout]);
        if (s.MaxRounds is { } rounds && technique is "precopy" or "hybrid") migrate.AddRange(["--max-rounds", rounds.ToString(CultureInfo.InvariantCulture)]);
        if (s.Bandwidth is { } bandwidth) migrate.AddRange(["--bandwidth", bandwidth]);

        double t0 = GuestConsole.Now;
        var (exit, stdout, stderr) = RunToEnd(s.Ferry, migrate);
        double tEnd = GuestConsole.Now;
        File.WriteAllText(logs + "-migrate.out", $"ferry {string.Join(' ', migrate)}\nexit {exit}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n");
        Thread.Sleep(TimeSpan.FromSeconds(s.PostWaitSeconds));

        var status = ParseStatus(stdout);
        var report = status?.Report;
        bool completed = exit == 0 && status?.Phase == OperationStatus.Completed;
        var heartbeats = source.Console.Heartbeats.Concat(completed ? destination.Console.Heartbeats : []).OrderBy(h => h.HostSeconds).ToList();
        bool heartbeating = source.Console.Heartbeats.Count > 0;
        string? guestProblem = GuestProblem(completed ? destination.Console : source.Console);
        bool destinationBeats = !heartbeating || destination.Console.Heartbeats.Any(h => h.HostSeconds >= t0);
        string? error = !completed ? OneLine(status?.Message is { Length: > 0 } m ? m : LastLine(stderr) ?? $"ferry migrate exited {exit}")
            : guestProblem ?? (destinationBeats ? null : "the guest printed no heartbeat at the destination");

        // The first half second of the settle time is the workload finding its pace.
        var seen = GuestObserved.Of(heartbeats, settleFrom + 0.5, t0, tEnd, tEnd + s.PostWaitSeconds);
        long? firstPass = report is null ? null : FirstPassPages(technique, report);
        source.Stop();
        destination.Stop();
        return result with
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

    private static string? GuestProblem(GuestConsole console) =>
        console.Lines.FirstOrDefault(l => l.Contains("ferry-guest: panic", StringComparison.Ordinal) || l.Contains("ferry-guest: fault", StringComparison.Ordinal)
            || l.Contains("memverify FAIL", StringComparison.Ordinal) || l.Contains("workload exited", StringComparison.Ordinal)) is { } line
            ? $"the guest said: {OneLine(line)}" : null;

    private static OperationStatus? ParseStatus(string stdout)
    {
        var last = LastLine(stdout);
        if (last is null) return null;
        try { return JsonSerializer.Deserialize(last, ApiJson.Default.OperationStatus); }
        catch (JsonException) { return null; }
    }

    private static string? LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();

    private static string OneLine(string text)
    {
        var line = new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]).Trim();
        return line.Length > 300 ? line[..300] + "..." : line;
    }

    private static (int Exit, string Stdout, string Stderr) RunToEnd(string file, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
