using Ferry.Api;
using System.Globalization;
using Ferry.Compare;
using Ferry.Compare.Running;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry compare`'s options checked into a plan, each refusal one line naming the option, and a
/// plan turned into the concrete settings of each sweep point.
/// </summary>
public static class ComparePlanReader
{
    public static readonly string[] Techniques = ["cold", "precopy", "postcopy", "hybrid"];
    public static readonly string[] SweepVariables = ["rate", "mb", "bandwidth"];

    /// <summary>Why the plan cannot run, or null. Checked before any VM starts.</summary>
    public static string? Check(ComparisonPlan plan)
    {
        if ((plan.From is null) != (plan.To is null)) return "between host agents give both --from HOST and --to HOST";
        if (plan.From is { } from)
        {
            if (from == plan.To) return $"--from and --to both name {from}: a migration goes to another host";
            if (plan.PeerQemu) return "--peer qemu runs QEMU on this host: it cannot run between agents (drop --peer, or --from and --to)";
            // The agents' hosts open them; they say so if a file is missing there.
            if (!Path.IsPathRooted(plan.Kernel)) return $"--kernel {plan.Kernel}: between agents give the absolute path on their hosts";
            if (!Path.IsPathRooted(plan.Initrd)) return $"--initrd {plan.Initrd}: between agents give the absolute path on their hosts";
        }
        else
        {
            if (!File.Exists(plan.Kernel)) return $"--kernel {plan.Kernel}: no such file";
            if (!File.Exists(plan.Initrd)) return $"--initrd {plan.Initrd}: no such file";
        }
        if (!SizeParser.TryParse(plan.Memory, out ulong memory) || memory < (16UL << 20)) return $"--memory {plan.Memory}: not a size of at least 16M (write e.g. 512M, 4G)";
        if (plan.Cpus is < 1 or > Vmm.VmConfig.MaxCpus) return $"--cpus {plan.Cpus}: from 1 to {Vmm.VmConfig.MaxCpus}";
        try { GuestWorkload.Parse(plan.Workload); }
        catch (ArgumentException e) { return e.Message; }
        if (plan.Techniques.Count == 0) return "--techniques: name at least one of cold, precopy, postcopy, hybrid";
        if (plan.Techniques.FirstOrDefault(t => !Techniques.Contains(t)) is { } unknown) return $"--techniques: {unknown} is not one of cold, precopy, postcopy, hybrid";
        if (plan.Techniques.Distinct().Count() != plan.Techniques.Count) return "--techniques: each technique once";
        if (plan.Runs is < 1 or > 100) return $"--runs {plan.Runs}: from 1 to 100";
        if (plan.Bandwidth is { } b && !RateParser.TryParseBitsPerSecond(b, out _)) return $"--bandwidth {b}: not a rate (write e.g. 1Gbit, 500Mbit)";
        if (!RateParser.TryParseDuration(plan.MaxDowntime, out _)) return $"--max-downtime {plan.MaxDowntime}: not a duration (write e.g. 50ms)";
        if (!RateParser.TryParseDuration(plan.Timeout, out _)) return $"--timeout {plan.Timeout}: not a duration (write e.g. 60s)";
        if (plan.MaxRounds is < 1 or > 1000) return $"--max-rounds {plan.MaxRounds}: from 1 to 1000";
        if (plan.SettleSeconds is < 0 or > 3600 || double.IsNaN(plan.SettleSeconds)) return "--settle: from 0s to 1h";
        if (plan.Sweep is { } sweep)
        {
            if (!SweepVariables.Contains(sweep.Variable)) return $"--sweep {sweep.Variable}: sweep rate, mb or bandwidth (e.g. --sweep rate=1000,10000)";
            if (sweep.Values.Count is < 1 or > 50) return "--sweep: from 1 to 50 values";
            foreach (var v in sweep.Values)
                if (!ValidSweepValue(sweep.Variable, v)) return $"--sweep {sweep.Variable}={v}: {SweepHelp(sweep.Variable)}";
            if (sweep.Values.Distinct().Count() != sweep.Values.Count) return "--sweep: each value once";
        }
        return null;
    }

    /// <summary>"rate=1000,10000" → Sweep; null with the reason when it is not of that form.</summary>
    public static (Sweep? Sweep, string? Error) ParseSweep(string text)
    {
        var parts = text.Split('=', 2);
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0) return (null, $"--sweep {text}: write VARIABLE=V1,V2,... (rate, mb or bandwidth)");
        return (new Sweep(parts[0].Trim(), [.. parts[1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)]), null);
    }

    private static bool ValidSweepValue(string variable, string value) => variable switch
    {
        "rate" => value == "max" || (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long r) && r <= 100_000_000),
        "mb" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int mb) && mb is >= 1 and <= 1 << 20,
        _ => RateParser.TryParseBitsPerSecond(value, out _),
    };

    private static string SweepHelp(string variable) => variable switch
    {
        "rate" => "a number of pages per second, or max",
        "mb" => "a number of MiB",
        _ => "not a rate (write e.g. 1Gbit, 500Mbit)",
    };

    /// <summary>The settings every run at <paramref name="point"/> gets (the plan is checked).</summary>
    public static RunSettings SettingsAt(ComparisonPlan plan, string? point, string ferry, string logDirectory)
    {
        var workload = GuestWorkload.Parse(plan.Workload);
        string? bandwidth = plan.Bandwidth;
        switch (plan.Sweep?.Variable)
        {
            case "rate": workload = workload.With("--rate", point!); break;
            case "mb": workload = workload.With("--mb", point!); break;
            case "bandwidth": bandwidth = point; break;
        }
        long? bits = bandwidth is not null && RateParser.TryParseBitsPerSecond(bandwidth, out long b) ? b : null;
        RateParser.TryParseDuration(plan.MaxDowntime, out var maxDowntime);
        RateParser.TryParseDuration(plan.Timeout, out var timeout);
        bool local = plan.From is null;
        return new RunSettings(ferry, local ? Path.GetFullPath(plan.Kernel) : plan.Kernel, local ? Path.GetFullPath(plan.Initrd) : plan.Initrd, plan.Memory, plan.Cpus, workload,
            bandwidth, bits, plan.MaxDowntime, maxDowntime.TotalMilliseconds, plan.MaxRounds, plan.Timeout, timeout.TotalSeconds, plan.SettleSeconds, logDirectory)
        {
            Agents = local ? null : new AgentPair(plan.From!, plan.To!),
        };
    }

    /// <summary>
    /// The QEMU peer harness: --qemu-peer, else FERRY_QEMU_PEER, else shared/peers/qemu beside a
    /// Ferry checkout above the current directory or the binary.
    /// </summary>
    public static string? FindQemuPeer(string? given)
    {
        if (given is not null) return given;
        if (Environment.GetEnvironmentVariable("FERRY_QEMU_PEER") is { Length: > 0 } fromEnv) return fromEnv;
        foreach (var start in new[] { Environment.CurrentDirectory, Path.GetDirectoryName(Environment.ProcessPath) ?? "" })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared", "peers", "qemu");
                if (File.Exists(Path.Combine(candidate, "run-migration.sh"))) return Path.GetFullPath(candidate);
            }
        return null;
    }
}
