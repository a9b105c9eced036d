using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;
using Xunit.Abstractions;

namespace Ferry.Cli.Tests.Hostile;

/// <summary>
/// Soak: one VM migrated A→B→A… 24 times (live pre-copy), each hop to a fresh receiver on the
/// other "host" (port). Every VMM process that held the VM is measured once it runs (open file
/// descriptors, threads, RSS): the 24th must look like the first, nothing may be left behind
/// (processes, sockets in the run directory), and memverify must still find every page intact.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class PingPongSoakTests(ITestOutputHelper output) : IDisposable
{
    private const int Hops = 24;
    private readonly LiveMigrationRig _rig = new("ferry-soak-");

    private sealed record Figures(int Fds, int Threads, long RssKiB);

    private static Figures Measure(int pid)
    {
        long rss = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        return new(Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length, Directory.GetDirectories($"/proc/{pid}/task").Length, rss);
    }

    [KvmFact]
    public void Twenty_four_migrations_back_and_forth_leak_nothing()
    {
        string runDir = Environment.GetEnvironmentVariable("FERRY_RUN_DIR") ?? Ferry.Vmm.Api.ApiSocketPaths.Directory;
        int socketsBefore = Directory.GetFiles(runDir, "*.sock").Length;
        int[] ports = [Heartbeats.FreePort(), Heartbeats.FreePort()];
        string name = $"soak-{Environment.ProcessId}";
        var holder = FerryProcess.Start("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "64M", "--cpus", "1",
            "--name", $"{name}-0", "--cmdline", TestGuest.Run("memverify", "--mb 8 --mode rewrite", powerOff: false));
        var figures = new List<Figures>();
        FerryProcess? receiving = null;
        try
        {
            holder.WaitFor("memverify OK", seconds: 120);
            figures.Add(Measure(holder.Pid));
            for (int hop = 1; hop <= Hops; hop++)
            {
                var next = _rig.Receiver($"{name}-{hop}", ports[hop % 2]);
                receiving = next;
                next.WaitForStderr("waiting for a migration");
                var r = _rig.Migrate($"{name}-{hop - 1}", ports[hop % 2], "precopy", "--on-no-converge", "force");
                Assert.True(r.Code == 0, $"hop {hop}: migrate failed ({r.Code}): {r.Stderr}");
                Assert.Equal(0, holder.WaitForExit(TimeSpan.FromSeconds(30)));
                holder.Dispose();
                holder = next;
                receiving = null;
                holder.WaitFor("memverify (OK|FAIL)", seconds: 60, from: holder.Console.Count);
                figures.Add(Measure(holder.Pid));
            }
            holder.WaitFor("memverify (OK|FAIL)", seconds: 60, from: holder.Console.Count);
            Assert.DoesNotContain("memverify FAIL", holder.Console.Text);
        }
        finally
        {
            FerryProcess.Run("stop", "--name", $"{name}-{figures.Count - 1}");
            holder.Dispose();
            receiving?.Dispose();
        }
        // A: the processes of even hops (the first included), B: of odd hops.
        var a = figures.Where((_, i) => i % 2 == 0).ToList();
        var b = figures.Where((_, i) => i % 2 == 1).ToList();
        output.WriteLine($"{Hops} hops; A first/last: fds {a[0].Fds}/{a[^1].Fds}, threads {a[0].Threads}/{a[^1].Threads}, RSS {a[0].RssKiB >> 10}/{a[^1].RssKiB >> 10} MiB; " +
                         $"B first/last: fds {b[0].Fds}/{b[^1].Fds}, threads {b[0].Threads}/{b[^1].Threads}, RSS {b[0].RssKiB >> 10}/{b[^1].RssKiB >> 10} MiB; " +
                         $"fds over all receivers min/max {b.Concat(a.Skip(1)).Min(f => f.Fds)}/{b.Concat(a.Skip(1)).Max(f => f.Fds)}");
        // Every receiving process is alike: what the 24th holds, the 2nd held.
        var receivers = figures.Skip(1).ToList();
        Assert.True(receivers[^1].Fds <= receivers[0].Fds + 2, $"file descriptors grew from {receivers[0].Fds} to {receivers[^1].Fds}");
        Assert.True(receivers[^1].Threads <= receivers[0].Threads + 4, $"threads grew from {receivers[0].Threads} to {receivers[^1].Threads}");
        Assert.True(receivers[^1].RssKiB <= receivers[0].RssKiB + (32 << 10), $"RSS grew from {receivers[0].RssKiB >> 10} to {receivers[^1].RssKiB >> 10} MiB");
        Assert.Equal(socketsBefore, Directory.GetFiles(runDir, "*.sock").Length);
    }

    public void Dispose() => _rig.Dispose();
}
