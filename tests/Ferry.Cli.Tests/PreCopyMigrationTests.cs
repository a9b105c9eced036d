using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>Live pre-copy migration between two VMM processes over loopback TCP, and every way it can fail.</summary>
[Collection(KvmCollection.Name)]
public sealed class PreCopyMigrationTests : IDisposable
{
    private readonly LiveMigrationRig _rig = new("ferry-precopy-");
    private string Token => _rig.Token;

    private static FerryProcess Source(string name, string workload, string args, string memory = "1G") => LiveMigrationRig.Source(name, workload, args, memory);

    private FerryProcess Receiver(string name, int port, params string[] extra) => _rig.Receiver(name, port, extra);

    // Tests that must stay in the rounds (kill, cut, cancel, timeout) cap the bandwidth and turn
    // off LZ4, the default under a cap: the test guest's pages would compress to almost nothing.
    private (int Code, string Stdout, string Stderr) Migrate(string name, int port, params string[] extra) => _rig.Migrate(name, port, "precopy", extra);

    private static void AssertRunningHere(FerryProcess source, string name)
    {
        source.WaitFor("^HB ", from: source.Console.Count);
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", name, "--json").Stdout);
    }

    [KvmFact]
    public void A_running_guest_moves_live_and_its_heartbeat_continues_with_memory_verified()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src1", "memtouch", "--mb 128 --rate 20000 --threads 2 --hb-ms 5");
        using var destination = Receiver("pre-dst1", port);
        source.WaitFor("memtouch ready");
        source.WaitFor("^HB ", from: source.Console.Count);

        var r = Migrate("pre-src1", port, "--max-downtime", "20ms", "--verify-memory", "--json");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("\"phase\":\"completed\"", r.Stdout);
        Assert.Contains("\"mode\":\"precopy\"", r.Stdout);
        Assert.Contains("\"stop_and_copy\":true", r.Stdout);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));

        destination.WaitFor("^HB ");
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Heartbeats.AssertContinues(source.Console, destination.Console); // not one heartbeat lost or repeated
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pre-dst1").Code);
    }

    [KvmTheory]
    [InlineData("--mb 96 --rate 50000 --pattern random --hb-ms 5")]
    [InlineData("--mb 64 --rate max --pattern hotcold --threads 2 --hb-ms 5")]
    public void Other_dirty_patterns_and_rates_move_with_memory_verified(string memtouch)
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src11", "memtouch", memtouch);
        using var destination = Receiver("pre-dst11", port);
        source.WaitFor("memtouch ready");
        var r = Migrate("pre-src11", port, "--verify-memory", "--max-rounds", "8", "--on-no-converge", "force");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        destination.WaitFor("^HB ");
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pre-dst11").Code);
    }

    [KvmFact]
    public void A_guest_rewriting_its_memory_verifies_clean_after_a_live_move_over_several_streams_with_lz4()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src2", "memverify", "--mb 256 --mode rewrite");
        using var destination = Receiver("pre-dst2", port);
        source.WaitFor("memverify OK", seconds: 120);

        var r = Migrate("pre-src2", port, "--streams", "3", "--compress", "lz4", "--verify-memory", "--max-rounds", "5", "--on-no-converge", "force");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("switched over", r.Stdout);
        int seen = destination.Console.Count;
        destination.WaitFor("memverify OK", seconds: 60, from: seen);
        destination.WaitFor("memverify OK", seconds: 60, from: destination.Console.Count);
        Assert.DoesNotContain("BAD", destination.Console.Text);
        Assert.DoesNotContain("FAIL", destination.Console.Text);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pre-dst2").Code);
    }

    [KvmFact]
    public void Mutual_tls_with_auto_converge_moves_a_busy_guest()
    {
        var (ca, srcCert, srcKey, dstCert, dstKey) = MakeCertificates();
        int port = Heartbeats.FreePort();
        // memtouch at its full pace dirties 120-250 MB/s here (it varies with the host): well beyond a 500 Mbit/s link.
        using var source = Source("pre-src3", "memtouch", "--mb 64 --rate max --hb-ms 10");
        using var destination = FerryProcess.Start("receive", "--listen", $"127.0.0.1:{port}", "--name", "pre-dst3",
            "--tls-cert", dstCert, "--tls-key", dstKey, "--tls-ca", ca);
        source.WaitFor("memtouch ready");
        var r = FerryProcess.Run("migrate", "--name", "pre-src3", "--to", $"127.0.0.1:{port}", "--mode", "precopy",
            "--tls-cert", srcCert, "--tls-key", srcKey, "--tls-ca", ca, "--auto-converge", "--bandwidth", "500Mbit", "--compress", "none", "--max-rounds", "12", "--on-no-converge", "force", "--json");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Matches("\"throttle_percent\":[1-9]", r.Stdout); // the guest outran the link, so it was throttled
        destination.WaitFor("^HB ", from: 0);
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "pre-dst3").Code);
    }

    [KvmFact]
    public void A_source_with_a_certificate_from_another_ca_is_refused_and_keeps_its_vm()
    {
        var (ca, _, _, dstCert, dstKey) = MakeCertificates();
        var (_, otherCert, otherKey, _, _) = MakeCertificates("other");
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src4", "memtouch", "--mb 16 --rate 100 --hb-ms 10");
        using var destination = FerryProcess.Start("receive", "--listen", $"127.0.0.1:{port}", "--name", "pre-dst4",
            "--tls-cert", dstCert, "--tls-key", dstKey, "--tls-ca", ca);
        source.WaitFor("memtouch ready");
        var r = FerryProcess.Run("migrate", "--name", "pre-src4", "--to", $"127.0.0.1:{port}", "--mode", "precopy",
            "--tls-cert", otherCert, "--tls-key", otherKey, "--tls-ca", ca);
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.True(r.Stderr.Contains("TLS"), r.Stderr);
        AssertRunningHere(source, "pre-src4");
        Assert.NotEqual(0, destination.WaitForExit(TimeSpan.FromSeconds(30)));
        FerryProcess.Run("stop", "--name", "pre-src4");
    }

    [KvmFact]
    public async Task A_destination_killed_in_the_warm_up_leaves_the_vm_running_at_the_source()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src5", "memtouch", "--mb 256 --rate 1000 --hb-ms 10");
        using var destination = Receiver("pre-dst5", port);
        source.WaitFor("memtouch ready", seconds: 120);
        await using var proxy = new LinkProxy(port);
        proxy.CutAfter(16 << 20, onCut: destination.Dispose); // SIGKILL mid-transfer, and the path with it
        var r = Migrate("pre-src5", proxy.Port, "--bandwidth", "800Mbit", "--compress", "none");
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("keeps running here", r.Stderr);
        AssertRunningHere(source, "pre-src5");
        FerryProcess.Run("stop", "--name", "pre-src5");
    }

    [KvmFact]
    public async Task A_destination_killed_in_a_later_round_leaves_the_vm_running_at_the_source()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src6", "memtouch", "--mb 64 --rate max --hb-ms 10");
        using var destination = Receiver("pre-dst6", port);
        source.WaitFor("memtouch ready");
        var migrate = Task.Run(() => Migrate("pre-src6", port, "--max-downtime", "1ms", "--max-rounds", "1000", "--bandwidth", "400Mbit", "--compress", "none"));
        await WaitForStatusAsync("pre-src6", "round 2");
        destination.Dispose(); // SIGKILL
        var r = await migrate;
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        AssertRunningHere(source, "pre-src6");
        FerryProcess.Run("stop", "--name", "pre-src6");
    }

    [KvmFact]
    public async Task A_cut_connection_fails_the_migration_at_both_ends_and_the_vm_runs_at_the_source()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src7", "memtouch", "--mb 128 --rate 5000 --hb-ms 10");
        using var destination = Receiver("pre-dst7", port);
        source.WaitFor("memtouch ready");
        await using var proxy = new LinkProxy(port);
        proxy.CutAfter(8 << 20);
        var r = Migrate("pre-src7", proxy.Port, "--bandwidth", "500Mbit", "--compress", "none");
        Assert.True(r.Code == (int)ExitCode.MigrationFailed, $"{r.Code}: {r.Stderr}");
        Assert.Equal((int)ExitCode.MigrationFailed, destination.WaitForExit(TimeSpan.FromSeconds(60)));
        AssertRunningHere(source, "pre-src7");
        FerryProcess.Run("stop", "--name", "pre-src7");
    }

    [KvmFact]
    public async Task Pause_stop_and_snapshot_are_refused_during_the_rounds_and_a_cancel_leaves_the_vm_running_and_unthrottled_at_the_source()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src8", "memtouch", "--mb 64 --rate max --hb-ms 10");
        using var destination = Receiver("pre-dst8", port);
        source.WaitFor("memtouch ready");
        var migrate = Task.Run(() => Migrate("pre-src8", port, "--max-downtime", "1ms", "--max-rounds", "1000", "--auto-converge", "--bandwidth", "400Mbit", "--compress", "none"));
        await WaitForStatusAsync("pre-src8", "round 3");
        // One owner at a time: while the migration runs, the API refuses what would fight it.
        foreach (var command in (string[])["pause", "resume", "stop"])
        {
            var refused = FerryProcess.Run(command, "--name", "pre-src8");
            Assert.NotEqual(0, refused.Code);
            Assert.Contains($"cannot {command} the VM while it is being migrated", refused.Stderr);
        }
        Assert.Contains("already in progress", FerryProcess.Run("snapshot", "--name", "pre-src8", "--out", Path.Combine(Path.GetTempPath(), "never.snap")).Stderr);
        Assert.Equal(0, FerryProcess.Run("migrate-cancel", "--name", "pre-src8").Code);
        var r = await migrate;
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("cancelled", r.Stderr);
        AssertRunningHere(source, "pre-src8");
        Assert.NotEqual(0, destination.WaitForExit(TimeSpan.FromSeconds(30)));
        FerryProcess.Run("stop", "--name", "pre-src8");
    }

    [KvmFact]
    public void A_migration_that_cannot_converge_stops_at_its_timeout_and_the_vm_runs_on()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("pre-src9", "memtouch", "--mb 64 --rate max --hb-ms 10");
        using var destination = Receiver("pre-dst9", port);
        source.WaitFor("memtouch ready");
        var r = Migrate("pre-src9", port, "--max-downtime", "1ms", "--max-rounds", "100000", "--bandwidth", "200Mbit", "--compress", "none", "--timeout", "3s");
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("did not converge within the 3 s timeout", r.Stderr);
        AssertRunningHere(source, "pre-src9");
        FerryProcess.Run("stop", "--name", "pre-src9");
    }

    [KvmFact]
    public void A_wrong_token_is_refused_and_the_vm_keeps_running()
    {
        int port = Heartbeats.FreePort();
        string wrong = Path.Combine(_rig.Directory, "wrong");
        File.WriteAllText(wrong, "not-the-secret");
        using var source = Source("pre-src10", "memtouch", "--mb 16 --rate 100 --hb-ms 10");
        using var destination = Receiver("pre-dst10", port);
        source.WaitFor("memtouch ready");
        var r = FerryProcess.Run("migrate", "--name", "pre-src10", "--to", $"127.0.0.1:{port}", "--mode", "precopy", "--streams", "2", "--token-file", wrong);
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("token", r.Stderr);
        AssertRunningHere(source, "pre-src10");
        Assert.NotEqual(0, destination.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("authentication failed", destination.Stderr);
        FerryProcess.Run("stop", "--name", "pre-src10");
    }

    [Theory]
    [InlineData("--bandwidth", "fast", "not a bandwidth")]
    [InlineData("--bandwidth", "5Mbit", "at least 10Mbit")]
    [InlineData("--max-downtime", "50", "not a duration")]
    [InlineData("--streams", "17", "--streams must be 1 to 16")]
    [InlineData("--compress", "zstd", "zstd")]
    [InlineData("--tls-cert", "/nonexistent.pem", "TLS needs all three")]
    public void Bad_live_migration_options_are_refused_with_one_line(string option, string value, string message)
    {
        var r = FerryProcess.Run("migrate", "--name", "nobody", "--to", "127.0.0.1:7999", "--mode", "precopy", option, value);
        Assert.Equal((int)ExitCode.BadInput, r.Code);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    private static Task WaitForStatusAsync(string name, string text) => LiveMigrationRig.WaitForStatusAsync(name, text);

    private (string Ca, string SrcCert, string SrcKey, string DstCert, string DstKey) MakeCertificates(string prefix = "ferry") => _rig.MakeCertificates(prefix);

    public void Dispose() => _rig.Dispose();
}
