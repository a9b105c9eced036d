using Ferry.Cli.Tests.Infrastructure;
using Ferry.Migration.Transport;
using Ferry.Tests.Shared;
using Xunit.Abstractions;

namespace Ferry.Cli.Tests.Hostile;

/// <summary>
/// The failure matrix: every fault at the start of every phase of every mode, phases taken from
/// the protocol's own list (<see cref="MigrationPhases"/>), against real VMM processes. After
/// each, the VM is in exactly one place with its memory intact (memverify keeps checking every
/// page it wrote) — or paused on both sides, settled as docs/migration-protocol.md says — and
/// the only VM ever lost is one whose own process was killed.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class FailureMatrixTests(ITestOutputHelper output) : IDisposable
{
    public enum Fault { KillSource, KillDestination, CutLink, Cancel }

    /// <summary>
    /// Every mode with FERRY_FAILURE_MATRIX=full (scripts/failure-matrix.sh); the suite leaves out
    /// hybrid, whose phases are pre-copy's followed by post-copy's, to stay within its time.
    /// </summary>
    private static MigrationMode[] Modes => Environment.GetEnvironmentVariable("FERRY_FAILURE_MATRIX") == "full"
        ? [MigrationMode.Cold, MigrationMode.PreCopy, MigrationMode.PostCopy, MigrationMode.Hybrid]
        : [MigrationMode.Cold, MigrationMode.PreCopy, MigrationMode.PostCopy];

    private readonly LiveMigrationRig _rig = new("ferry-matrix-");

    public static TheoryData<string, string, Fault> Cases()
    {
        var cases = new TheoryData<string, string, Fault>();
        foreach (var mode in Modes)
            foreach (var phase in MigrationPhases.All.Where(p => p.Modes.Contains(mode)))
                foreach (var fault in Enum.GetValues<Fault>())
                    cases.Add(mode.Name(), phase.Name, fault);
        return cases;
    }

    // Receiving: a post-copy destination still fetching pages (it ends running, or lost).
    private enum Side { Gone, Running, Held, Receiving }

    [KvmTheory]
    [MemberData(nameof(Cases))]
    public async Task The_vm_survives_in_exactly_one_place(string mode, string phaseName, Fault fault)
    {
        var phase = MigrationPhases.All.Single(p => p.Name == phaseName);
        string id = $"{Environment.ProcessId}-{Guid.NewGuid():N}"[..20];
        string src = $"fm-src-{id}", dst = $"fm-dst-{id}";
        int port = Heartbeats.FreePort();
        using var source = FerryProcess.Start("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "64M", "--cpus", "1",
            "--name", src, "--cmdline", TestGuest.Run("memverify", "--mb 8 --mode rewrite --status-ms 200", powerOff: false));
        // Short recovery timeouts: a post-copy side whose peer is gone waits that long before it gives up.
        using var destination = _rig.Receiver(dst, port, "--recovery-timeout", "5s");
        await using var link = new FaultingLink(port, phase.Start);
        source.WaitFor("memverify OK", seconds: 120);
        destination.WaitForStderr("waiting for a migration");

        string[] extra = mode switch
        {
            "hybrid" => ["--max-rounds", "1", "--recovery-timeout", "5s"], // reach its post-copy at once
            "postcopy" => ["--recovery-timeout", "5s"],
            "precopy" => ["--on-no-converge", "force"],
            _ => [],
        };
        using var migrate = FerryProcess.Start(["migrate", "--name", src, "--to", $"127.0.0.1:{link.Port}", "--mode", mode, "--token-file", _rig.Token, .. extra]);
        var reached = await Task.WhenAny(link.Reached, Task.Delay(TimeSpan.FromSeconds(90)));
        Assert.True(reached == link.Reached, $"the {mode} migration never reached its {phaseName} phase; migrate: {migrate.Stderr}");

        switch (fault)
        {
            case Fault.KillSource: source.Kill(); break;
            case Fault.KillDestination: destination.Kill(); break;
            case Fault.CutLink: link.Cut(); break;
            case Fault.Cancel: FerryProcess.Run("migrate-cancel", "--name", src); break;
        }
        link.Release();
        migrate.WaitForExit(TimeSpan.FromSeconds(120));

        var (srcSide, dstSide) = await SettledAsync(src, source, dst, destination);
        output.WriteLine($"{mode} {phaseName} {fault}: migrate exit {migrate.WaitForExit(TimeSpan.Zero)}, source {srcSide}, destination {dstSide}");
        Assert.False(srcSide == Side.Running && dstSide == Side.Running, "the VM runs on both sides");

        // Settle a held VM as docs/migration-protocol.md tells an operator: where it runs, stop the
        // held copy; where it runs nowhere, stop the destination's copy and resume the source's.
        FerryProcess? survivor;
        if (srcSide == Side.Running) { survivor = source; if (dstSide == Side.Held) FerryProcess.Run("stop", "--name", dst); }
        else if (dstSide == Side.Running) { survivor = destination; if (srcSide == Side.Held) FerryProcess.Run("stop", "--name", src); }
        else if (srcSide == Side.Held && dstSide == Side.Held) { FerryProcess.Run("stop", "--name", dst); survivor = ResumeForce(src, source); }
        else if (srcSide == Side.Held) survivor = ResumeForce(src, source);
        else if (dstSide == Side.Held) survivor = ResumeForce(dst, destination);
        else survivor = null;

        if (survivor is null)
        {
            // Lost: only allowed where the fault killed the process that held the VM.
            Assert.True(fault is Fault.KillSource or Fault.KillDestination, $"{fault} lost the VM (source {srcSide}, destination {dstSide})");
            return;
        }
        // Memory intact: memverify, still running, checks every page it wrote, from a fresh pass.
        int from = survivor.Console.Count;
        survivor.WaitFor("memverify (OK|FAIL)", seconds: 60, from: from);
        survivor.WaitFor("memverify (OK|FAIL)", seconds: 60, from: survivor.Console.Count);
        Assert.DoesNotContain("memverify FAIL", survivor.Console.Text);
        FerryProcess.Run("stop", "--name", survivor == source ? src : dst);
    }

    /// <summary>The held copy, resumed; null when it refuses because its memory is partly at a post-copy source (gone).</summary>
    private static FerryProcess? ResumeForce(string name, FerryProcess process)
    {
        var r = FerryProcess.Run("resume", "--force", "--name", name);
        if (r.Code != 0 && r.Stderr.Contains("part of its memory is still at its post-copy source")) return null;
        Assert.True(r.Code == 0, $"resume --force {name}: {r.Stderr}");
        return process;
    }

    /// <summary>Waits until neither side changes for 1.5 s (a failed receiver exits; a held VM stays held), at most 60 s.</summary>
    private static async Task<(Side Source, Side Destination)> SettledAsync(string src, FerryProcess source, string dst, FerryProcess destination)
    {
        (Side, Side) last = (Side.Gone, Side.Gone);
        var stableSince = DateTime.UtcNow;
        var deadline = DateTime.UtcNow.AddSeconds(90); // a post-copy destination waits 20 s (--recovery-timeout) for a lost source
        while (DateTime.UtcNow < deadline)
        {
            var now = (Of(src, source), Of(dst, destination));
            if (now != last) { last = now; stableSince = DateTime.UtcNow; }
            else if (now.Item2 != Side.Receiving && DateTime.UtcNow - stableSince > TimeSpan.FromSeconds(1.5)) return now;
            // A receiver still without a running VM whose source is gone or has taken its VM back
            // can never run it (only the source's Go would start it): it runs nowhere, even while
            // it waits out its stall limit (60 s) before it exits.
            else if (now.Item2 == Side.Receiving && now.Item1 is Side.Gone or Side.Running && !HasVmRunning(dst)
                     && DateTime.UtcNow - stableSince > TimeSpan.FromSeconds(1.5)) return (now.Item1, Side.Gone);
            await Task.Delay(200);
        }
        return last;
    }

    /// <summary>Whether the receiver's VM runs (a post-copy destination fetching pages); false before its Go.</summary>
    private static bool HasVmRunning(string name) => FerryProcess.Run("status", "--name", name).Stdout.Contains(": running");

    private static Side Of(string name, FerryProcess process)
    {
        if (process.HasExited) return Side.Gone;
        var status = FerryProcess.Run("status", "--name", name);
        if (status.Code != 0) return Side.Gone; // ending
        if (status.Stdout.Contains(": receiving")) return Side.Receiving; // a receiver serves its API before its VM exists
        if (!status.Stdout.Contains(": running")) return Side.Held;
        var operation = FerryProcess.Run("migrate-status", "--name", name, "--json").Stdout;
        return operation.Contains("\"kind\":\"receive\"") && operation.Contains("\"phase\":\"running\"") ? Side.Receiving : Side.Running;
    }

    public void Dispose() => _rig.Dispose();
}
