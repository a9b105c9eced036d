using Ferry.Api;
using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Ferry.Compare;
using Ferry.Compare.Output;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry compare`: every migration technique measured on the user's own guest, workload and link,
/// printed as a table, with plots across a swept variable and one HTML report.
/// </summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var kernel = new Option<string?>("--kernel") { Description = "The guest kernel (the test guest's ferry-guest.elf)" };
        var initrd = new Option<string?>("--initrd") { Description = "Its initrd (the test guest's initrd.cpio, which holds the workloads)" };
        var memory = new Option<string>("--memory") { Description = "Guest RAM, binary units (default 1G)", DefaultValueFactory = _ => "1G" };
        var cpus = new Option<int>("--cpus") { Description = "vCPUs (default 2)", DefaultValueFactory = _ => 2 };
        var workload = new Option<string?>("--workload") { Description = "The test guest's workload and its arguments, e.g. \"memtouch --mb 1024 --rate 20000\"" };
        var techniques = new Option<string>("--techniques") { Description = "Which techniques, in this order (default cold,precopy,postcopy,hybrid)", DefaultValueFactory = _ => "cold,precopy,postcopy,hybrid" };
        var runs = new Option<int>("--runs") { Description = "Migrations per technique and sweep point, each of a fresh guest (default 5)", DefaultValueFactory = _ => 5 };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "Cap the link for every technique, decimal bits per second, e.g. 1Gbit (default: none)" };
        var maxDowntime = new Option<string>("--max-downtime") { Description = "The downtime limit every live technique is given (default 50ms)", DefaultValueFactory = _ => "50ms" };
        var maxRounds = new Option<int?>("--max-rounds") { Description = "precopy, hybrid: rounds at most (default: ferry migrate's)" };
        var timeout = new Option<string>("--timeout") { Description = "precopy, hybrid: each migration's --timeout (default 60s)", DefaultValueFactory = _ => "60s" };
        var sweep = new Option<string?>("--sweep") { Description = "Repeat across a variable and plot: rate=… or mb=… (the workload's --rate, --mb) or bandwidth=…, e.g. rate=1000,10000,100000" };
        var peer = new Option<string?>("--peer") { Description = "qemu: add QEMU's pre-copy and post-copy on the same guest as extra rows" };
        peer.AcceptOnlyFromAmong("qemu");
        var qemuPeer = new Option<string?>("--qemu-peer") { Description = "The QEMU peer harness's directory (default: FERRY_QEMU_PEER, or shared/peers/qemu beside this checkout)" };
        var settle = new Option<string>("--settle") { Description = "How long the workload runs before each migration, its pace before (default 2s)", DefaultValueFactory = _ => "2s" };
        var outDir = new Option<string?>("--out") { Description = "Where the table, raw results, plots and HTML report go (default: compare-DATE-TIME)" };
        var from = new Option<string?>("--from") { Description = "Between host agents: the source host (a name from the client configuration, or ADDR:PORT); give --to too" };
        var to = new Option<string?>("--to") { Description = "Between host agents: the destination host" };
        var fromReport = new Option<string?>("--from-report") { Description = "Run again the comparison a report.json describes (its plan; --out may differ)" };
        var command = new Command("compare",
            """
            Measure every migration technique on your own guest, workload and link: each technique
            --runs times, each time on a fresh guest booted on this host and migrated over loopback
            to a second VMM process, or with --from HOST --to HOST booted through the source host's
            agent and migrated to the other's (--kernel and --initrd: absolute paths on those
            hosts; the guest's console comes through the agents). Prints the table (downtime reported and as the guest saw it,
            total time, bytes and their ratio to the guest's non-zero memory, pages re-sent,
            post-copy faults and their latency, the workload's slowdown, the window in which a
            source failure would lose the VM: medians with min-max) and writes it, the raw results,
            plots across --sweep and a self-contained HTML report into --out. A technique that
            fails is reported with its error and the others go on; Ctrl-C (or SIGTERM) stops after
            the current run and keeps what was measured (exit code 130).

            Example:
              ferry compare --kernel ferry-guest.elf --initrd initrd.cpio --memory 4G --cpus 2 \
                  --workload "memtouch --mb 1024 --rate 20000" --runs 5 --sweep rate=1000,10000,100000 \
                  --peer qemu --out cmp
              ferry compare --from h1 --to h2 --kernel /srv/ferry-guest.elf --initrd /srv/initrd.cpio \
                  --memory 1G --workload "memtouch --mb 256 --rate 20000" --runs 3
            """)
        { kernel, initrd, memory, cpus, workload, techniques, runs, bandwidth, maxDowntime, maxRounds, timeout, sweep, peer, qemuPeer, settle, from, to, outDir, fromReport };

        command.SetAction((parse, cancellationToken) =>
        {
            ComparisonPlan plan;
            if (parse.GetValue(fromReport) is { } reportPath)
            {
                var given = new Option[] { kernel, initrd, workload, sweep, peer, bandwidth, from, to }.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (given.Count > 0) return Task.FromResult(Fail($"--from-report runs the report's own plan: drop {string.Join(", ", given)}"));
                var (loaded, error) = LoadPlan(reportPath);
                if (loaded is null) return Task.FromResult(Fail(error!));
                plan = loaded;
            }
            else
            {
                if (parse.GetValue(kernel) is not { } k || parse.GetValue(initrd) is not { } i || parse.GetValue(workload) is not { } w)
                    return Task.FromResult(Fail("give --kernel, --initrd and --workload (or --from-report report.json)"));
                Sweep? sweepPlan = null;
                if (parse.GetValue(sweep) is { } s)
                {
                    var (parsed, error) = ComparePlanReader.ParseSweep(s);
                    if (parsed is null) return Task.FromResult(Fail(error!));
                    sweepPlan = parsed;
                }
                if (!RateParser.TryParseDuration(parse.GetValue(settle)!, out var settleTime)) return Task.FromResult(Fail($"--settle {parse.GetValue(settle)}: not a duration (write e.g. 2s)"));
                bool agents = parse.GetValue(from) is not null || parse.GetValue(to) is not null;
                plan = new ComparisonPlan
                {
                    // Between agents the files are the hosts' own, named as they are there.
                    Kernel = agents ? k : Path.GetFullPath(k), Initrd = agents ? i : Path.GetFullPath(i), From = parse.GetValue(from), To = parse.GetValue(to), Memory = parse.GetValue(memory)!, Cpus = parse.GetValue(cpus), Workload = w,
                    Techniques = [.. parse.GetValue(techniques)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)],
                    Runs = parse.GetValue(runs), Bandwidth = parse.GetValue(bandwidth), MaxDowntime = parse.GetValue(maxDowntime)!,
                    MaxRounds = parse.GetValue(maxRounds), Timeout = parse.GetValue(timeout)!, Sweep = sweepPlan,
                    PeerQemu = parse.GetValue(peer) == "qemu", SettleSeconds = settleTime.TotalSeconds,
                };
            }
            if (ComparePlanReader.Check(plan) is { } problem) return Task.FromResult(Fail(problem));
            string? link = null;
            if (plan.From is not null && CompareHosts.Describe(plan.From, plan.To!, out link) is { } unreachable) return Task.FromResult(Fail(unreachable));
            string? peerDir = null;
            if (plan.PeerQemu && (peerDir = ComparePlanReader.FindQemuPeer(parse.GetValue(qemuPeer))) is null)
                return Task.FromResult(Fail("--peer qemu: no QEMU peer harness found (give --qemu-peer DIR holding run-migration.sh, or set FERRY_QEMU_PEER)"));
            string dir = Path.GetFullPath(parse.GetValue(outDir) ?? $"compare-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            return Task.FromResult(Run(plan, peerDir, dir, link));
        });
        return command;
    }

    /// <param name="link">Between agents: which hosts, as their agents describe them.</param>
    private static int Run(ComparisonPlan plan, string? peerDir, string dir, string? link)
    {
        string ferry = FerryBinary();
        string logs = Path.Combine(dir, "logs");
        Directory.CreateDirectory(logs);
        var conditions = Compare.Running.HostConditions.Probe(plan, ferry, CommandLineOf(plan, dir), link);
        var runner = new ComparisonRunner(plan, point => ComparePlanReader.SettingsAt(plan, point, ferry, logs), peerDir);
        int total = runner.Steps().Count;
        Console.Error.WriteLine($"ferry compare: {total} migrations ({string.Join(", ", plan.Techniques.Concat(plan.PeerQemu ? ComparisonRunner.QemuTechniques : []))}; " +
                                $"{plan.Runs} run{(plan.Runs == 1 ? "" : "s")} each{(plan.Sweep is { } sw ? $" at {sw.Variable} = {string.Join(", ", sw.Values)}" : "")}) into {dir}");

        // Ctrl-C or SIGTERM stops after the run in progress; its VMs are stopped and what was
        // measured is kept. A second one ends the process at once (the default action).
        using var interrupted = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            if (interrupted.IsCancellationRequested) return;
            context.Cancel = true;
            interrupted.Cancel();
            Console.Error.WriteLine("ferry compare: stopping after the current run, keeping what was measured (again to end at once)");
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        // The raw results are rewritten after each run: a comparison killed outright still leaves what it measured.
        var report = runner.Run(conditions, new Progress(), r => ReportFiles.WriteRaw(r, dir), interrupted.Token);
        var written = ReportFiles.WriteAll(report, dir);
        Console.Out.Write(File.ReadAllText(Path.Combine(dir, "table.md")));
        Console.Error.WriteLine($"ferry compare: {(report.Complete ? "done" : report.Interruption)} in {TimeSpan.FromSeconds(report.ElapsedSeconds):hh\\:mm\\:ss}; " +
                                $"{report.Runs.Count(r => !r.Ok)} of {report.Runs.Count} runs failed; report: {Path.Combine(dir, "report.html")} ({written.Count} files)");
        return report.Complete ? (int)ExitCode.Ok : (int)ExitCode.Interrupted;
    }

    /// <summary>
    /// The ferry binary the guests run under: this one. Run as `dotnet ferry.dll` (tests without
    /// the published binary), FERRY_BIN names it.
    /// </summary>
    private static string FerryBinary()
    {
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) != "dotnet") return self;
        return Environment.GetEnvironmentVariable("FERRY_BIN") is { Length: > 0 } bin ? bin
            : throw new InvalidOperationException("ferry compare runs VMs with the ferry binary itself: run the published binary, or set FERRY_BIN");
    }

    /// <summary>A line per run on stderr: where the comparison stands, what the run gave, and about how long is left.</summary>
    private sealed class Progress : IProgress<ComparisonProgress>
    {
        public void Report(ComparisonProgress p)
        {
            string at = p.Point is null ? "" : $" at {p.Point}";
            if (p.Last is not { } r)
            {
                Console.Error.WriteLine($"  [{p.Done + 1}/{p.Total}] {p.Technique}{at} run {p.Run}...");
                return;
            }
            string figures = r.Ok
                ? string.Create(CultureInfo.InvariantCulture, $"downtime {r.DowntimeMs:0.#} ms, guest saw {r.GuestDowntimeMs:0.#} ms, total {r.TotalMs:0} ms")
                : $"FAILED: {r.Error}";
            string left = p.Left is { } l ? $" (about {(l.TotalMinutes >= 1 ? $"{l.TotalMinutes:0} min" : $"{l.TotalSeconds:0} s")} left)" : "";
            Console.Error.WriteLine($"  [{p.Done}/{p.Total}] {r.Technique}{at} run {r.Run}: {figures}{left}");
        }
    }

    private static (ComparisonPlan?, string?) LoadPlan(string path)
    {
        if (!File.Exists(path)) return (null, $"--from-report {path}: no such file");
        try
        {
            var report = JsonSerializer.Deserialize(File.ReadAllText(path), CompareJson.Default.ComparisonReport);
            return report?.Plan is { } plan ? (plan, null) : (null, $"--from-report {path}: not a ferry compare report");
        }
        catch (JsonException e) { return (null, $"--from-report {path}: not a ferry compare report ({e.Message.Split('.')[0]})"); }
    }

    /// <summary>The command that runs this plan again, as a person would type it.</summary>
    private static string CommandLineOf(ComparisonPlan p, string dir)
    {
        var parts = new List<string> { "ferry compare", "--kernel", p.Kernel, "--initrd", p.Initrd, "--memory", p.Memory, "--cpus", p.Cpus.ToString(CultureInfo.InvariantCulture),
            "--workload", $"\"{p.Workload}\"", "--techniques", string.Join(',', p.Techniques), "--runs", p.Runs.ToString(CultureInfo.InvariantCulture),
            "--max-downtime", p.MaxDowntime, "--timeout", p.Timeout, "--settle", $"{p.SettleSeconds.ToString(CultureInfo.InvariantCulture)}s" };
        if (p.Bandwidth is { } b) parts.AddRange(["--bandwidth", b]);
        if (p.MaxRounds is { } m) parts.AddRange(["--max-rounds", m.ToString(CultureInfo.InvariantCulture)]);
        if (p.Sweep is { } s) parts.AddRange(["--sweep", $"{s.Variable}={string.Join(',', s.Values)}"]);
        if (p.PeerQemu) parts.AddRange(["--peer", "qemu"]);
        if (p.From is { } f) parts.AddRange(["--from", f, "--to", p.To!]);
        parts.AddRange(["--out", dir]);
        return string.Join(' ', parts);
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"ferry compare: {message}");
        return (int)ExitCode.BadInput;
    }
}
