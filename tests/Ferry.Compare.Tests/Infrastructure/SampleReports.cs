namespace Ferry.Compare.Tests.Infrastructure;

/// <summary>
/// Reports built by hand. Every figure of a run is derived from one number,
/// f = 100 × point index + 10 × technique index (cold 1 … qemu-postcopy 6) + run, so a test can
/// work out any median by hand: cold at rate 1000 has downtimes 11 and 12 ms.
/// </summary>
internal static class SampleReports
{
    public static readonly string[] Points = ["1000", "10000"];
    public static readonly string[] AllTechniques = ["cold", "precopy", "postcopy", "hybrid", "qemu-precopy", "qemu-postcopy"];
    /// <summary>Every hybrid run fails with this: a comma and quotes for the CSV, a script for the HTML.</summary>
    public const string HybridError = "hybrid broke, \"badly\" <script>alert(1)</script>";
    /// <summary>Pre-copy's second run at rate 10000 fails with this.</summary>
    public const string PreCopyError = "destination said no";

    public static ComparisonPlan Plan(Sweep? sweep = null) => new()
    {
        Kernel = "ferry-guest.elf",
        Initrd = "initrd.cpio",
        Memory = "4G",
        Workload = "memtouch --mb 1024 --rate 20000",
        Techniques = ["cold", "precopy", "postcopy", "hybrid"],
        Runs = 2,
        Bandwidth = "1Gbit",
        Sweep = sweep,
        PeerQemu = true,
    };

    public static Conditions Conditions() => new()
    {
        HostCpu = "AMD EPYC 7B13 & friends",
        Cores = 2,
        HostKernel = "6.12.48",
        Kvm = "kvm_amd",
        Link = "loopback (127.0.0.1), one host",
        Shaping = "--bandwidth 1Gbit",
        Guest = "4G, 2 vCPUs, ferry-guest.elf + initrd.cpio",
        Workload = "memtouch --mb 1024 --rate 20000",
        FerryVersion = "0.9.0+abc123",
        QemuVersion = "QEMU emulator version 9.2.0",
        Started = new DateTimeOffset(2026, 12, 3, 7, 47, 58, TimeSpan.Zero),
        CommandLine = "ferry compare --guest ... --sweep rate=1000,10000 --runs 2 --peer-qemu",
    };

    /// <summary>A 2-point sweep of rate, 4 techniques and QEMU's 2, 2 runs each; hybrid fails everywhere, pre-copy once.</summary>
    public static ComparisonReport Swept() => Report(new Sweep("rate", Points), Points);

    /// <summary>The same without a sweep: every run's point is null.</summary>
    public static ComparisonReport Unswept() => Report(null, [null]);

    public static ComparisonReport Report(Sweep? sweep, IReadOnlyList<string?> points)
    {
        var runs = new List<RunResult>();
        for (int p = 0; p < points.Count; p++)
            foreach (string technique in AllTechniques)
                for (int run = 1; run <= 2; run++)
                    runs.Add(technique == "hybrid" ? Failed(technique, points[p], run, HybridError)
                        : technique == "precopy" && p == 1 && run == 2 ? Failed(technique, points[p], run, PreCopyError)
                        : Ok(technique, points[p], run, F(p, technique, run)));
        return new ComparisonReport
        {
            Plan = Plan(sweep),
            Conditions = Conditions(),
            Runs = runs,
            Complete = true,
            ElapsedSeconds = 754.2,
        };
    }

    public static double F(int point, string technique, int run) => 100 * point + 10 * (Array.IndexOf(AllTechniques, technique) + 1) + run;

    public static RunResult Ok(string technique, string? point, int run, double f)
    {
        bool rounds = technique is "precopy" or "hybrid" or "qemu-precopy";
        bool postCopy = technique is "postcopy" or "hybrid" or "qemu-postcopy";
        return new RunResult
        {
            Technique = technique,
            Point = point,
            Run = run,
            Ok = true,
            DowntimeMs = f,
            GuestDowntimeMs = f + 5,
            TotalMs = f * 100,
            BytesSent = (long)f << 20,
            BytesPerNonZeroByte = 1 + f / 1000,
            PagesResent = rounds ? (long)f * 10 : null,
            Faults = postCopy ? (long)f : null,
            FaultP50Us = postCopy ? f / 10 : null,
            FaultP99Us = postCopy ? f : null,
            Slowdown = f / 1000,
            WindowMs = postCopy ? f : 0,
        };
    }

    public static RunResult Failed(string technique, string? point, int run, string error) =>
        new() { Technique = technique, Point = point, Run = run, Ok = false, Error = error };
}
