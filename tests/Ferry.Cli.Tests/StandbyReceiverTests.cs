using System.Text.Json;
using Ferry.Api;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// `ferry receive --standby`: a receiver started before any migration is asked for, claimed through
/// its control API (PUT /receive/claim) with the receive's options, which then receives a VM as a
/// receiver started with those options would (ferryd keeps one, docs/agent.md).
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class StandbyReceiverTests : IDisposable
{
    private readonly LiveMigrationRig _rig = new("ferry-standby-");

    private string StandbySocket(string directory) => Path.Combine(_rig.Directory, directory, "api.sock");

    private FerryProcess StartStandby(string directory)
    {
        var standby = FerryProcess.Start("receive", "--standby", "--api-socket", StandbySocket(directory));
        standby.WaitForStderr("standing by for a receive");
        return standby;
    }

    private static VmStatus Status(string socket)
    {
        var r = FerryProcess.Run("status", "--api-socket", socket, "--json");
        Assert.True(r.Code == 0, $"status failed ({r.Code}): {r.Stderr}");
        return JsonSerializer.Deserialize(r.Stdout, ApiJson.Default.VmStatus)!;
    }

    [KvmFact]
    public async Task A_claimed_standby_receives_the_vm_whole_and_runs_it_under_the_claimed_name()
    {
        int port = Heartbeats.FreePort();
        using var source = LiveMigrationRig.Source("sb-src", "memtouch", "--mb 64 --rate 1000 --hb-ms 10", memory: "512M");
        using var standby = StartStandby("standby");
        var waiting = Status(StandbySocket("standby"));
        Assert.Equal("standby", waiting.State);
        Assert.Equal(standby.Pid, waiting.Pid);

        // As ferryd does: the standby's directory is renamed after the VM before the claim says so.
        Directory.Move(Path.Combine(_rig.Directory, "standby"), Path.Combine(_rig.Directory, "sb-dst"));
        string socket = StandbySocket("sb-dst");
        await new ApiClient(socket).ClaimStandbyAsync(
            ["--listen", $"127.0.0.1:{port}", "--name", "sb-dst", "--token-file", _rig.Token, "--api-socket", socket], CancellationToken.None);
        // Answered once it listens: the receive is its operation already.
        Assert.Contains("waiting for a migration on 127.0.0.1:", standby.Stderr);
        var claimed = Status(socket);
        Assert.Equal("receiving", claimed.State);
        Assert.Equal("sb-dst", claimed.Name);

        source.WaitFor("memtouch ready");
        var r = _rig.Migrate("sb-src", port, "precopy", "--verify-memory");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        standby.WaitFor("^HB ");
        standby.WaitFor("^HB ", from: standby.Console.Count);
        Heartbeats.AssertContinues(source.Console, standby.Console);
        var running = Status(socket);
        Assert.Equal("running", running.State);
        Assert.Equal(standby.Pid, running.Pid);

        Assert.Equal(0, FerryProcess.Run("stop", "--api-socket", socket).Code);
        Assert.Equal(0, standby.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.False(File.Exists(socket), "the claimed standby left its API socket behind (at the path it was moved to)");
    }

    [KvmFact]
    public async Task A_claim_that_cannot_start_is_answered_with_why_and_the_standby_ends()
    {
        using var standby = StartStandby("bad");
        var client = new ApiClient(StandbySocket("bad"));
        var refused = await Assert.ThrowsAsync<ApiException>(() =>
            client.ClaimStandbyAsync(["--listen", "no-port-here", "--name", "sb-bad"], CancellationToken.None));
        Assert.Equal("--listen no-port-here: write ADDR:PORT", refused.Message);
        Assert.Equal((int)ExitCode.BadInput, standby.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("ferry: --listen no-port-here: write ADDR:PORT", standby.Stderr);

        // A claim that says the socket moved where it is not.
        using var moved = StartStandby("moved");
        var nowhere = await Assert.ThrowsAsync<ApiException>(() => new ApiClient(StandbySocket("moved")).ClaimStandbyAsync(
            ["--listen", $"127.0.0.1:{Heartbeats.FreePort()}", "--api-socket", StandbySocket("elsewhere")], CancellationToken.None));
        Assert.Equal($"--api-socket {StandbySocket("elsewhere")}: this standby's control socket is not there", nowhere.Message);
        Assert.Equal((int)ExitCode.BadInput, moved.WaitForExit(TimeSpan.FromSeconds(30)));
    }

    [KvmFact]
    public async Task Only_a_standby_takes_a_claim_and_a_standby_takes_no_receive_options_of_its_own()
    {
        int port = Heartbeats.FreePort();
        string socket = Path.Combine(_rig.Directory, "sb-plain.sock");
        using var receiver = _rig.Receiver("sb-plain", port, "--api-socket", socket);
        receiver.WaitForStderr("waiting for a migration");
        var refused = await Assert.ThrowsAsync<ApiException>(() =>
            new ApiClient(socket).ClaimStandbyAsync(["--listen", $"127.0.0.1:{port}"], CancellationToken.None));
        Assert.Contains("not a standby receiver", refused.Message);
        Assert.Equal(0, FerryProcess.Run("migrate-cancel", "--api-socket", socket).Code);

        var noSocket = FerryProcess.Run("receive", "--standby");
        Assert.Equal((int)ExitCode.BadInput, noSocket.Code);
        Assert.Contains("--standby needs --api-socket", noSocket.Stderr);
        var withListen = FerryProcess.Run("receive", "--standby", "--api-socket", StandbySocket("x"), "--listen", $"127.0.0.1:{port}");
        Assert.Equal((int)ExitCode.BadInput, withListen.Code);
        Assert.Contains("with its claim", withListen.Stderr);
        var noListen = FerryProcess.Run("receive", "--name", "sb-none");
        Assert.Equal((int)ExitCode.BadInput, noListen.Code);
        Assert.Contains("receive needs --listen ADDR:PORT", noListen.Stderr);
    }

    public void Dispose() => _rig.Dispose();
}
