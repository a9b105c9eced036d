using System.Globalization;

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
        var failed = new RunResult { Technique = technique, Point = point, Run = run, Ok = false };
        string tag = $"cmp{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        string logs = Path.Combine(s.LogDirectory, $"{(point is null ? "" : $"{point}-")}{technique}-{run}");
        var workload = s.Workload.WithFineHeartbeat();
        using var source = new VmmProcess(s.Ferry,
            ["run", "--kernel", s.Kernel, "--initrd", s.Initrd, "--memory", s.Memory, "--cpus", s.Cpus.ToString(CultureInfo.InvariantCulture),
             "--name", $"{tag}-src", "--console", "stdio", "--cmdline", workload.KernelCommandLine], $"{tag}-src", logs + "-source");
        if (!source.Console.WaitFor(workload.ReadyLine, s.BootTimeout))
            return failed with { Error = source.Exited ? $"the source VM ended before its workload was ready: {source.LastError()}" : $"no '{workload.ReadyLine}' within {s.BootTimeout.TotalSeconds:0} s" };
        cancellationToken.ThrowIfCancellationRequested();

        int port = FreePort();
        using var destination = new VmmProcess(s.Ferry, ["receive", "--listen", $"127.0.0.1:{port}", "--name", $"{tag}-dst", "--console", "stdio"],
            $"{tag}-dst", logs + "-destination");
        if (!destination.StderrHas("waiting for a migration", TimeSpan.FromSeconds(30)))
            return failed with { Error = $"ferry receive did not start: {destination.LastError()}" };

        double settleFrom = GuestConsole.Now;
        if (cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(s.SettleSeconds))) cancellationToken.ThrowIfCancellationRequested();
        List<string> migrate = ["migrate", "--name", source.Name, "--to", $"127.0.0.1:{port}", .. s.MigrateOptions(technique)];

        double t0 = GuestConsole.Now;
        var (exit, stdout, stderr) = ChildProcess.RunToEnd(s.Ferry, migrate);
        double tEnd = GuestConsole.Now;
        File.WriteAllText(logs + "-migrate.out", $"ferry {string.Join(' ', migrate)}\nexit {exit}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n");
        Thread.Sleep(TimeSpan.FromSeconds(s.PostWaitSeconds));

        var result = RunMeasurement.Measure(failed, technique,
            (exit, stdout, stderr), source.Console.Heartbeats, destination.Console.Heartbeats, source.Console.Lines, destination.Console.Lines,
            settleFrom, t0, tEnd, s.PostWaitSeconds);
        source.Stop();
        destination.Stop();
        return result;
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
