using System.Text.RegularExpressions;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// Post-copy and hybrid migration between two VMM processes over loopback: the VM resumes at the
/// destination before its memory, faults fetch pages from the source, and nothing is lost; a
/// source that dies in the window loses the VM, and the destination says so.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed partial class PostCopyMigrationTests : IDisposable
{
    private readonly LiveMigrationRig _rig = new("ferry-postcopy-");

    private static FerryProcess Source(string name, string workload, string args) => LiveMigrationRig.Source(name, workload, args);

    private FerryProcess Receiver(string name, int port, params string[] extra) => _rig.Receiver(name, port, extra);

    private (int Code, string Stdout, string Stderr) Migrate(string name, int port, string mode, params string[] extra) =>
        _rig.Migrate(name, port, mode, ["--json", .. extra]);

    private static long Figure(string json, string name) => long.Parse(Regex.Match(json, $"\"{name}\":(\\d+)").Groups[1].Value);

    [KvmFact]
    public void A_running_guest_moves_post_copy_with_its_heartbeat_continuing_and_memory_verified()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src1", "memtouch", "--mb 128 --rate 20000 --threads 2 --hb-ms 5");
        using var destination = Receiver("pc-dst1", port);
        source.WaitFor("memtouch ready");
        source.WaitFor("^HB ", from: source.Console.Count);

        var r = Migrate("pc-src1", port, "postcopy", "--verify-memory", "--streams", "2");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("\"phase\":\"completed\"", r.Stdout);
        Assert.Contains("\"mode\":\"postcopy\"", r.Stdout);
        Assert.True(Figure(r.Stdout, "pages_at_switchover") > 128 * 256); // the working set was all still here
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));

        destination.WaitFor("^HB ");
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Heartbeats.AssertContinues(source.Console, destination.Console); // not one heartbeat lost or repeated
        Assert.Contains("post-copy complete", destination.Stderr);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst1").Code);
    }

    [KvmFact]
    public void A_fault_storm_after_the_switchover_is_served_while_the_push_is_capped()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src2", "memtouch", "--mb 192 --rate max --threads 2 --pattern random --hb-ms 5");
        using var destination = Receiver("pc-dst2", port);
        source.WaitFor("memtouch ready");

        // Both vCPUs write all over 192 MiB at once; a 200 Mbit/s push would take ~8 s, so most pages come on faults.
        var r = Migrate("pc-src2", port, "postcopy", "--bandwidth", "200Mbit", "--compress", "none", "--verify-memory");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.True(Figure(r.Stdout, "pages_requested") > 1000, r.Stdout);
        Assert.True(Figure(r.Stdout, "faults") >= Figure(r.Stdout, "pages_requested"));
        Assert.Matches("\"thread\":\"vcpu[01]\"", r.Stdout); // the vCPUs' blocked time is reported
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        destination.WaitFor("^HB ", from: 0);
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst2").Code);
    }

    [KvmFact]
    public void Post_copy_runs_over_mutual_tls_on_every_stream_and_the_fault_stream()
    {
        var (ca, srcCert, srcKey, dstCert, dstKey) = _rig.MakeCertificates("pc");
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src9", "memtouch", "--mb 96 --rate 20000 --hb-ms 10");
        using var destination = FerryProcess.Start("receive", "--listen", $"127.0.0.1:{port}", "--name", "pc-dst9",
            "--tls-cert", dstCert, "--tls-key", dstKey, "--tls-ca", ca);
        source.WaitFor("memtouch ready");
        var r = FerryProcess.Run("migrate", "--name", "pc-src9", "--to", $"127.0.0.1:{port}", "--mode", "postcopy", "--streams", "2",
            "--tls-cert", srcCert, "--tls-key", srcKey, "--tls-ca", ca, "--verify-memory", "--json");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("\"post_copy\":{", r.Stdout);
        destination.WaitFor("^HB ", from: 0);
        destination.WaitFor("^HB ", from: destination.Console.Count);
        // The source's console ends only when it exits: the head of a heartbeat the switchover cut is its last line.
        source.WaitForExit(TimeSpan.FromSeconds(30));
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst9").Code);
    }

    [KvmFact]
    public void A_guest_rewriting_its_memory_verifies_clean_after_hybrid_switches_to_post_copy_with_lz4()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src3", "memverify", "--mb 256 --mode rewrite");
        using var destination = Receiver("pc-dst3", port);
        source.WaitFor("memverify OK", seconds: 120);

        // A 1 µs limit: only a round in which the guest wrote nothing converges. With 1 ms a round
        // in which lz4's two streams kept the guest's vCPU off both cores could (seen once in the
        // suite), and hybrid then finished as pre-copy.
        var r = Migrate("pc-src3", port, "hybrid", "--streams", "2", "--compress", "lz4", "--max-downtime", "0.001ms", "--max-rounds", "3", "--verify-memory");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("switching to post-copy", r.Stdout);
        Assert.Contains("\"post_copy\":{", r.Stdout);
        int seen = destination.Console.Count;
        destination.WaitFor("memverify OK", seconds: 60, from: seen);
        destination.WaitFor("memverify OK", seconds: 60, from: destination.Console.Count);
        Assert.DoesNotContain("BAD", destination.Console.Text);
        Assert.DoesNotContain("FAIL", destination.Console.Text);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst3").Code);
    }

    [KvmFact]
    public async Task Migrate_postcopy_switches_a_hybrid_migration_by_hand()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src4", "memtouch", "--mb 64 --rate max --hb-ms 10");
        using var destination = Receiver("pc-dst4", port);
        source.WaitFor("memtouch ready");
        var migrate = Task.Run(() => Migrate("pc-src4", port, "hybrid", "--max-downtime", "1ms", "--max-rounds", "1000", "--on-no-converge", "abort",
            "--bandwidth", "400Mbit", "--compress", "none"));
        await WaitForStatusAsync("pc-src4", "round 2");
        var switched = FerryProcess.Run("migrate-postcopy", "--name", "pc-src4");
        Assert.True(switched.Code == 0, switched.Stderr);
        var r = await migrate;
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("on request (ferry migrate-postcopy)", r.Stdout);
        destination.WaitFor("^HB ", from: 0);
        // The source's console ends only when it exits: the head of a heartbeat the switchover cut is its last line.
        source.WaitForExit(TimeSpan.FromSeconds(30));
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst4").Code);
    }

    [KvmFact]
    public void A_pre_copy_cannot_be_switched_to_post_copy_and_says_why()
    {
        using var source = Source("pc-src5", "memtouch", "--mb 16 --rate 100 --hb-ms 10");
        source.WaitFor("memtouch ready");
        var r = FerryProcess.Run("migrate-postcopy", "--name", "pc-src5");
        Assert.NotEqual(0, r.Code);
        Assert.Contains("no live migration is in progress", r.Stderr);
        FerryProcess.Run("stop", "--name", "pc-src5");
    }

    [KvmFact]
    public async Task A_source_killed_during_post_copy_loses_the_vm_and_the_destination_says_so_and_exits_8()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src6", "memtouch", "--mb 256 --rate 1000 --hb-ms 10");
        using var destination = Receiver("pc-dst6", port, "--recovery-timeout", "5s");
        source.WaitFor("memtouch ready");
        // A 10 Mbit/s push of 256 MiB would take minutes: the window is wide open when the source dies.
        var migrate = Task.Run(() => Migrate("pc-src6", port, "postcopy", "--bandwidth", "10Mbit", "--compress", "none"));
        await WaitForStatusAsync("pc-dst6", "pages_at_source");
        source.Dispose(); // SIGKILL of the only holder of the missing pages
        Assert.Equal((int)ExitCode.VmLost, destination.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains("the VM is lost", destination.Stderr);
        Assert.Contains("did not come back within 5 s", destination.Stderr);
        await migrate;
    }

    [KvmFact]
    public async Task A_link_cut_during_post_copy_is_reconnected_and_nothing_is_lost()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src7", "memtouch", "--mb 128 --rate 5000 --hb-ms 10");
        using var destination = Receiver("pc-dst7", port);
        source.WaitFor("memtouch ready");
        await using var link = new LinkProxy(port);
        // ~100 Mbit/s: the push of 128 MiB takes ~10 s, so the cut lands in the window.
        var migrate = Task.Run(() => Migrate("pc-src7", link.Port, "postcopy", "--bandwidth", "100Mbit", "--compress", "none", "--verify-memory"));
        await WaitForStatusAsync("pc-dst7", "pages_at_source");
        await Task.Delay(500);
        link.Cut(); // the source reconnects through the same path at once
        var r = await migrate;
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Matches("\"recoveries\":[1-9]", r.Stdout);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        destination.WaitFor("^HB ", from: 0);
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst7").Code);
    }

    [KvmFact]
    public async Task Migrate_recover_moves_a_broken_post_copy_to_a_new_address()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pc-src8", "memtouch", "--mb 128 --rate 5000 --hb-ms 10");
        using var destination = Receiver("pc-dst8", port);
        source.WaitFor("memtouch ready");
        await using var oldPath = new LinkProxy(port);
        var migrate = Task.Run(() => Migrate("pc-src8", oldPath.Port, "postcopy", "--bandwidth", "100Mbit", "--compress", "none"));
        await WaitForStatusAsync("pc-dst8", "pages_at_source");
        oldPath.CutForGood();
        // Both sides say the migration is paused, and why.
        await WaitForStatusAsync("pc-src8", "reconnecting");
        await WaitForStatusAsync("pc-dst8", "waiting for the source to reconnect");
        var recover = FerryProcess.Run("migrate-recover", "--name", "pc-src8", "--to", $"127.0.0.1:{port}");
        Assert.True(recover.Code == 0, recover.Stderr);
        var r = await migrate;
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        destination.WaitFor("^HB ", from: 0);
        // The source's console ends only when it exits: the head of a heartbeat the switchover cut is its last line.
        source.WaitForExit(TimeSpan.FromSeconds(30));
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pc-dst8").Code);
    }

    private static Task WaitForStatusAsync(string name, string text) => LiveMigrationRig.WaitForStatusAsync(name, text);

    public void Dispose() => _rig.Dispose();
}
