using System.Globalization;

namespace Ferry.Compare.Running;

/// <summary>Two host agents a comparison migrates between, by the names (or ADDR:PORT) `ferry --host` takes.</summary>
public sealed record AgentPair(string From, string To);

/// <summary>
/// One migration of a fresh guest between two host agents, as a user would drive it: `ferry --host
/// FROM vm create` and `vm start`, the guest's console followed through the agent (`vm console
/// --follow`), `vm migrate --to TO --json`, then the destination's console, and the VM stopped and
/// deleted on both hosts. Console lines come through the agents in batches, so heartbeats are placed
/// by the guest's clock (<see cref="Measuring.HeartbeatAnalysis.PlaceByGuestClock"/>).
/// </summary>
public static class AgentMigrationRun
{
    private static int _counter;

    /// <summary>Read the consoles on this long past the analysed span, so its last heartbeats have prompt ones after them.</summary>
    private const double ReadOnSeconds = 0.6;

    public static RunResult Run(RunSettings s, AgentPair agents, string technique, string? point, int run, CancellationToken cancellationToken)
    {
        var failed = new RunResult { Technique = technique, Point = point, Run = run, Ok = false };
        string name = $"cmp{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        string logs = Path.Combine(s.LogDirectory, $"{(point is null ? "" : $"{point}-")}{technique}-{run}");
        var workload = s.Workload.WithFineHeartbeat();
        var created = Ferry(s, agents.From, ["vm", "create", name, "--kernel", s.Kernel, "--initrd", s.Initrd, "--memory", s.Memory,
            "--cpus", s.Cpus.ToString(CultureInfo.InvariantCulture), "--cmdline", workload.KernelCommandLine]);
        if (created.Exit != 0) return failed with { Error = $"{agents.From}: {Said(created)}" };
        try
        {
            var started = Ferry(s, agents.From, ["vm", "start", name]);
            if (started.Exit != 0) return failed with { Error = $"{agents.From}: {Said(started)}" };
            using var source = Follow(s, agents.From, name, logs + "-source");
            if (!source.Console.WaitFor(workload.ReadyLine, s.BootTimeout))
                return failed with { Error = $"no '{workload.ReadyLine}' within {s.BootTimeout.TotalSeconds:0} s on {agents.From}{(source.Exited ? $": {source.LastError()}" : "")}" };
            cancellationToken.ThrowIfCancellationRequested();

            double settleFrom = GuestConsole.Now;
            if (cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(s.SettleSeconds))) cancellationToken.ThrowIfCancellationRequested();
            List<string> migrate = ["--host", agents.From, "vm", "migrate", name, "--to", agents.To, .. s.MigrateOptions(technique)];
            double t0 = GuestConsole.Now;
            var outcome = ChildProcess.RunToEnd(s.Ferry, migrate);
            double tEnd = GuestConsole.Now;
            File.WriteAllText(logs + "-migrate.out", $"ferry {string.Join(' ', migrate)}\nexit {outcome.Exit}\n--- stdout\n{outcome.Stdout}\n--- stderr\n{outcome.Stderr}\n");

            // The destination's console from its first line: what came before this reader started
            // arrives at once, and the guest's clock places it.
            using var destination = Follow(s, agents.To, name, logs + "-destination");
            Thread.Sleep(TimeSpan.FromSeconds(s.PostWaitSeconds + ReadOnSeconds));
            return RunMeasurement.Measure(failed, technique, outcome,
                Measuring.HeartbeatAnalysis.PlaceByGuestClock(source.Console.Heartbeats), Measuring.HeartbeatAnalysis.PlaceByGuestClock(destination.Console.Heartbeats),
                source.Console.Lines, destination.Console.Lines, settleFrom, t0, tEnd, s.PostWaitSeconds);
        }
        finally
        {
            // Wherever the VM ended up, it goes: a refusal (nothing there) is expected on one side.
            foreach (var host in new[] { agents.To, agents.From })
            {
                Ferry(s, host, ["vm", "stop", name]);
                Ferry(s, host, ["vm", "delete", name]);
            }
        }
    }

    private static VmmProcess Follow(RunSettings s, string host, string name, string logPrefix) =>
        new(s.Ferry, ["--host", host, "vm", "console", name, "--follow"], name, logPrefix, stopByName: false);

    private static (int Exit, string Stdout, string Stderr) Ferry(RunSettings s, string host, IReadOnlyList<string> arguments) =>
        ChildProcess.RunToEnd(s.Ferry, ["--host", host, .. arguments]);

    private static string Said((int Exit, string Stdout, string Stderr) r) =>
        RunMeasurement.OneLine(RunMeasurement.LastLine(r.Stderr) ?? $"ferry exited {r.Exit}");
}
