using System.Text.Json;
using Ferry.Api;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// A receiving VMM serves its control API from the start: its status and its operation of kind
/// "receive" before and during a migration, and cancelling it through the API before and after
/// the commit (src/Ferry.Vmm/Operations/ReceiveOperation.cs).
/// </summary>
[Collection(KvmCollection.Name)]
public sealed class ReceiveOperationTests : IDisposable
{
    private readonly LiveMigrationRig _rig = new("ferry-receive-");

    private static OperationStatus Operation(string name)
    {
        var r = FerryProcess.Run("migrate-status", "--name", name, "--json");
        Assert.True(r.Code == 0, $"migrate-status failed ({r.Code}): {r.Stderr}");
        return JsonSerializer.Deserialize(r.Stdout, ApiJson.Default.OperationStatus)!;
    }

    private static async Task<OperationStatus> WaitForOperationAsync(string name, Func<OperationStatus, bool> reached, string what)
    {
        OperationStatus? last = null;
        for (int i = 0; i < 600; i++)
        {
            last = Operation(name);
            if (reached(last)) return last;
            await Task.Delay(100);
        }
        throw new TimeoutException($"the receive of {name} never reached {what}; last: {last}");
    }

    [KvmFact]
    public void Before_the_source_connects_the_receiver_shows_a_receive_waiting_for_it_and_a_cancel_ends_it()
    {
        int port = Heartbeats.FreePort();
        using var receiver = _rig.Receiver("rcv-wait", port);
        receiver.WaitForStderr("waiting for a migration");

        var status = FerryProcess.Run("status", "--name", "rcv-wait", "--json");
        Assert.Equal(0, status.Code);
        var vm = JsonSerializer.Deserialize(status.Stdout, ApiJson.Default.VmStatus)!;
        Assert.Equal("receiving", vm.State);
        Assert.Equal("rcv-wait", vm.Name);
        Assert.Equal(receiver.Pid, vm.Pid);

        var op = Operation("rcv-wait");
        Assert.Equal("receive", op.Kind);
        Assert.Equal(OperationStatus.Running, op.Phase);
        Assert.NotNull(op.Receive);
        Assert.StartsWith("waiting for the source", op.Receive.Step);
        Assert.Null(op.Receive.Mode);
        Assert.True(op.Receive.Cancellable);

        // One owner at a time: nothing to pause or stop yet.
        var pause = FerryProcess.Run("pause", "--name", "rcv-wait");
        Assert.Equal((int)ExitCode.ApiFailed, pause.Code);
        Assert.Contains("being received", pause.Stderr);

        Assert.Equal(0, FerryProcess.Run("migrate-cancel", "--name", "rcv-wait").Code);
        Assert.Equal((int)ExitCode.MigrationFailed, receiver.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("the receive was cancelled before its commit", receiver.Stderr);
        Assert.False(File.Exists(Path.Combine(Environment.GetEnvironmentVariable("FERRY_RUN_DIR") ?? "/nonexistent", "rcv-wait.sock")),
            "the receiver left its API socket behind");
    }

    [KvmFact]
    public async Task Progress_moves_while_pages_arrive_and_a_cancel_before_the_commit_leaves_the_vm_running_at_the_source()
    {
        int port = Heartbeats.FreePort();
        using var source = LiveMigrationRig.Source("rcv-src2", "memtouch", "--mb 256 --rate 1000 --hb-ms 10");
        using var receiver = _rig.Receiver("rcv-dst2", port);
        source.WaitFor("memtouch ready", seconds: 120);
        receiver.WaitForStderr("waiting for a migration");

        // Capped and uncompressed, one stream: the warm-up takes several seconds, long enough to watch and cancel.
        var migrate = Task.Run(() => _rig.Migrate("rcv-src2", port, "precopy", "--bandwidth", "200Mbit", "--compress", "none", "--streams", "1"));
        var first = await WaitForOperationAsync("rcv-dst2", s => s.Receive is { PagesReceived: > 0 }, "its first pages");
        Assert.Equal("precopy", first.Receive!.Mode);
        Assert.Equal("receiving", first.Receive.Step);
        Assert.True(first.Receive.Cancellable);
        var later = await WaitForOperationAsync("rcv-dst2", s => s.Receive is { } r && r.PagesReceived > first.Receive.PagesReceived, "more pages");
        Assert.True(later.BytesTransferred > first.BytesTransferred);
        Assert.Contains("\"state\":\"receiving\"", FerryProcess.Run("status", "--name", "rcv-dst2", "--json").Stdout);

        var cancel = FerryProcess.Run("migrate-cancel", "--name", "rcv-dst2");
        Assert.True(cancel.Code == 0, $"cancel failed ({cancel.Code}): {cancel.Stderr}");
        Assert.Equal((int)ExitCode.MigrationFailed, receiver.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains("the receive was cancelled before its commit: the VM keeps running at its source", receiver.Stderr);

        var r = await migrate;
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        // The receiver tells the source why (an Abort), but a source busy writing pages may meet the
        // closed socket first; either way its VM runs on there.
        Assert.Contains("keeps running here", r.Stderr);
        source.WaitFor("^HB ", from: source.Console.Count);
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", "rcv-src2", "--json").Stdout);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "rcv-src2").Code);
    }

    [KvmFact]
    public void After_the_commit_a_cancel_is_refused_and_the_vm_runs_at_the_destination()
    {
        int port = Heartbeats.FreePort();
        using var source = LiveMigrationRig.Source("rcv-src3", "memtouch", "--mb 16 --rate 100 --hb-ms 10", memory: "256M");
        using var receiver = _rig.Receiver("rcv-dst3", port);
        source.WaitFor("memtouch ready");

        var r = _rig.Migrate("rcv-src3", port, "cold");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        receiver.WaitFor("^HB ");

        var op = Operation("rcv-dst3");
        Assert.Equal("receive", op.Kind);
        Assert.Equal(OperationStatus.Completed, op.Phase);
        var cancel = FerryProcess.Run("migrate-cancel", "--name", "rcv-dst3");
        Assert.Equal((int)ExitCode.ApiFailed, cancel.Code);
        Assert.Contains("the migration has committed", cancel.Stderr);
        Assert.Contains("this VMM owns it", cancel.Stderr);

        receiver.WaitFor("^HB ", from: receiver.Console.Count);
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", "rcv-dst3", "--json").Stdout);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", "rcv-dst3").Code);
        Assert.Equal(0, receiver.WaitForExit(TimeSpan.FromSeconds(30)));
    }

    public void Dispose() => _rig.Dispose();
}
