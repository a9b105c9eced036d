using System.Net;
using System.Net.Sockets;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>Cold migration between two VMM processes over loopback TCP.</summary>
[Collection(KvmCollection.Name)]
public sealed class ColdMigrationTests : IDisposable
{
    private readonly string _token = Path.Combine(Path.GetTempPath(), $"ferry-token-{Guid.NewGuid():N}");

    public ColdMigrationTests() => File.WriteAllText(_token, "test-secret\n");

    private static FerryProcess Source(string name, string args) => FerryProcess.Start(
        "run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "1G", "--cpus", "2", "--name", name,
        "--cmdline", TestGuest.Run("memtouch", args, powerOff: false));

    private FerryProcess Receiver(string name, int port) =>
        FerryProcess.Start("receive", "--listen", $"127.0.0.1:{port}", "--name", name, "--token-file", _token);

    [KvmFact]
    public void The_vm_moves_and_its_workload_continues_at_the_destination()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("cold-src", "--mb 128 --rate 5000 --threads 2 --hb-ms 10");
        using var destination = Receiver("cold-dst", port);
        source.WaitFor("memtouch ready");
        source.WaitFor("^HB ", from: source.Console.Count);

        var r = FerryProcess.Run("migrate", "--name", "cold-src", "--to", $"127.0.0.1:{port}", "--mode", "cold", "--token-file", _token, "--json");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("\"phase\":\"completed\"", r.Stdout);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("migrated to", source.Stderr);

        destination.WaitFor("^HB ");
        destination.WaitFor("^HB ", from: destination.Console.Count);
        Heartbeats.AssertContinues(source.Console, destination.Console);
        Assert.DoesNotContain("ferry-guest: ready", destination.Console.Text);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "cold-dst").Code);
    }

    [KvmFact]
    public async Task A_destination_that_dies_mid_transfer_leaves_the_vm_running_at_the_source()
    {
        int port = Heartbeats.FreePort();
        using var source = Source("cold-src2", "--mb 128 --rate 1000 --hb-ms 10");
        using var destination = Receiver("cold-dst2", port);
        source.WaitFor("memtouch ready", seconds: 120);

        await using var proxy = new LinkProxy(port);
        proxy.CutAfter(16 << 20, onCut: destination.Dispose); // SIGKILL the receiver mid-transfer
        var r = FerryProcess.Run("migrate", "--name", "cold-src2", "--to", $"127.0.0.1:{proxy.Port}", "--token-file", _token);
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("keeps running here", r.Stderr);
        int seen = source.Console.Count;
        source.WaitFor("^HB ", from: seen);
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", "cold-src2", "--json").Stdout);
        FerryProcess.Run("stop", "--name", "cold-src2");
    }

    [KvmFact]
    public void A_wrong_token_is_refused_and_the_vm_keeps_running()
    {
        int port = Heartbeats.FreePort();
        string wrong = _token + ".wrong";
        File.WriteAllText(wrong, "another-secret");
        try
        {
            using var source = Source("cold-src3", "--mb 16 --rate 100 --hb-ms 10");
            using var destination = Receiver("cold-dst3", port);
            source.WaitFor("memtouch ready");
            var r = FerryProcess.Run("migrate", "--name", "cold-src3", "--to", $"127.0.0.1:{port}", "--token-file", wrong);
            Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
            Assert.Contains("token", r.Stderr);
            source.WaitFor("^HB ", from: source.Console.Count);
            Assert.NotEqual(0, destination.WaitForExit(TimeSpan.FromSeconds(30)));
            Assert.Contains("authentication failed", destination.Stderr);
            FerryProcess.Run("stop", "--name", "cold-src3");
        }
        finally
        {
            File.Delete(wrong);
        }
    }

    [KvmFact]
    public async Task Garbage_sent_to_a_receiver_is_refused_without_starting_a_vm()
    {
        int port = Heartbeats.FreePort();
        using var destination = Receiver("cold-dst4", port);
        for (int i = 0; i < 300 && !destination.Stderr.Contains("waiting for"); i++) await Task.Delay(100);
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            await client.GetStream().WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        }
        int code = destination.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.Equal((int)ExitCode.MigrationFailed, code);
        var errors = destination.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.Contains("waiting for")).ToList();
        Assert.Single(errors);
        Assert.StartsWith("ferry: ", errors[0]);
        Assert.DoesNotContain("   at ", destination.Stderr);
    }

    [KvmFact]
    public async Task Cancelling_a_migration_before_its_commit_leaves_the_vm_running_here()
    {
        // A "destination" that accepts and then says nothing: the migration waits in its handshake.
        var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        int port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var accepted = silent.AcceptTcpClientAsync();
        using var source = Source("cold-src5", "--mb 16 --rate 100 --hb-ms 10");
        source.WaitFor("memtouch ready");
        var migrate = Task.Run(() => FerryProcess.Run("migrate", "--name", "cold-src5", "--to", $"127.0.0.1:{port}", "--token-file", _token));
        using var peer = await accepted.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("running", FerryProcess.Run("migrate-status", "--name", "cold-src5").Stdout);
        Assert.Equal(0, FerryProcess.Run("migrate-cancel", "--name", "cold-src5").Code);
        var r = await migrate;
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("cancelled", r.Stderr);
        source.WaitFor("^HB ", from: source.Console.Count);
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", "cold-src5", "--json").Stdout);
        Assert.Contains("failed", FerryProcess.Run("migrate-status", "--name", "cold-src5").Stdout);
        FerryProcess.Run("stop", "--name", "cold-src5");
        silent.Stop();
    }

    [Fact]
    public void A_receiver_off_loopback_needs_a_token()
    {
        var r = FerryProcess.Run("receive", "--listen", "0.0.0.0:7999");
        Assert.Equal((int)ExitCode.BadInput, r.Code);
        Assert.Contains("needs --token-file", r.Stderr);
    }

    public void Dispose() => File.Delete(_token);
}
