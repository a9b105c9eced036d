using Ferry.Migration.Source;
using Ferry.Migration.Destination;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Tests.Infrastructure;

namespace Ferry.Migration.Tests.PreCopy;

/// <summary>Pre-copy between simulated VMs over loopback: rounds, switchover, integrity and every way it can stop.</summary>
public sealed class PreCopyMigrationTests
{
    private const ulong Size = 32 << 20;
    private const int Pages = (int)(Size / SimulatedVm.PageSize);

    [Fact]
    public async Task An_idle_vm_moves_in_a_warm_up_and_a_final_round_and_runs_only_at_the_destination()
    {
        using var source = new SimulatedVm(Size, state: [9, 9]).Fill(seed: 3, pages: 1000, zeroEvery: 10);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var report = await link.SendAsync(source, new MigrationOptions());
        var (result, vm, _) = await receiving;

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(DestinationResult.Running, result);
        Assert.True(link.RanAtDestination);
        Assert.True(source.Paused);
        Assert.Equal(0, source.Resumes);
        Assert.False(source.DirtyLogActive);
        Assert.Equal(source.Bytes, ((SimulatedVm)vm).Bytes);
        Assert.Equal([9, 9], link.Created!.LoadedState);
        Assert.Equal(2, report.Rounds.Count);
        Assert.True(report.Rounds[^1].StopAndCopy);
        Assert.Equal(0, report.Rounds[^1].PagesSent);
        Assert.StartsWith("converged", report.SwitchoverReason);
        Assert.True(report.Downtime <= report.TotalTime && report.SetupTime <= report.TotalTime);
        Assert.Equal(Pages - report.UntouchedPages, report.PagesSent + report.ZeroPages);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(4, false)]
    [InlineData(3, true)]
    public async Task Memory_a_running_guest_keeps_dirtying_arrives_exactly(int streams, bool compress)
    {
        using var source = new SimulatedVm(Size).Fill(seed: 5, pages: 4000).StartWorkload(seed: 11, workingSetPages: 3000, pagesPerSecond: 0, zeroEvery: 7);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        // A tight downtime target forces several rounds while the guest writes.
        var report = await link.SendAsync(source, new MigrationOptions { MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 4, OnNoConverge = NoConvergeAction.Force, Streams = streams, Compress = compress, VerifyMemory = true });
        var (result, vm, _) = await receiving;
        source.StopWorkload();

        Assert.Equal(DestinationResult.Running, result);
        Assert.True(source.PagesWrittenByGuest > 0);
        // The warm-up, at least one round of pages dirtied meanwhile (at most three: the limit), the final one.
        Assert.InRange(report.Rounds.Count, 3, 5);
        Assert.True(report.Rounds[1].PagesSent + report.Rounds[1].ZeroPages > 0);
        Assert.Equal(source.Bytes, ((SimulatedVm)vm).Bytes);
    }

    [Fact]
    public async Task Cancelling_during_the_rounds_leaves_the_vm_running_at_the_source_and_the_destination_discards_its_copy()
    {
        using var source = new SimulatedVm(Size).Fill(1, 4000).StartWorkload(2, 4000, pagesPerSecond: 0);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        using var cancel = new CancellationTokenSource();
        var progress = new Progress(p => { if (p.Round >= 2) cancel.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            link.SendAsync(source, new MigrationOptions { MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 1000 }, cancel.Token, progress: progress));

        Assert.False(source.Paused);
        Assert.False(source.DirtyLogActive);
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.True(link.Created!.Disposed);
        Assert.False(link.RanAtDestination);
    }

    [Fact]
    public async Task A_migration_that_does_not_converge_in_time_gives_up_and_the_vm_runs_on_unthrottled()
    {
        using var source = new SimulatedVm(Size).Fill(1, 2000).StartWorkload(4, 6000, pagesPerSecond: 0);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var e = await Assert.ThrowsAsync<MigrationException>(() => link.SendAsync(source,
            new MigrationOptions { MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 100_000, AutoConverge = true, Timeout = TimeSpan.FromMilliseconds(300) }));

        Assert.Contains("did not converge within", e.Message);
        Assert.False(source.Paused);
        Assert.Equal(0, source.ThrottleHistory.Count == 0 ? 0 : source.ThrottleHistory[^1]);
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.False(link.RanAtDestination);
    }

    [Fact]
    public async Task A_wrong_token_fails_before_anything_moves()
    {
        using var source = new SimulatedVm(Size).Fill(1, 100);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, token: "other"u8.ToArray());
        await Assert.ThrowsAnyAsync<MigrationException>(() => link.SendAsync(source, new MigrationOptions { Streams = 2 }));
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.Null(link.Created);
        Assert.False(source.Paused);
        Assert.False(source.DirtyLogActive);
    }

    [Fact]
    public async Task A_destination_that_vanishes_mid_rounds_leaves_the_vm_running_at_the_source()
    {
        using var source = new SimulatedVm(Size).Fill(1, 6000).StartWorkload(2, 6000, pagesPerSecond: 0);
        using var link = new LoopbackMigration();
        using var kill = new CancellationTokenSource();
        var receiving = link.ReceiveAsync(Size, cancellationToken: kill.Token);
        var progress = new Progress(p => { if (p.Round >= 1) kill.Cancel(); });
        await Assert.ThrowsAnyAsync<Exception>(() =>
            link.SendAsync(source, new MigrationOptions { MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 100_000, Timeout = TimeSpan.FromSeconds(60) }, progress: progress));
        await Assert.ThrowsAnyAsync<Exception>(() => receiving);
        Assert.False(source.Paused); // paused for the stop-and-copy or not, it runs here again
        Assert.False(source.DirtyLogActive);
    }

    [Fact]
    public async Task A_destination_that_vanishes_in_the_stop_and_copy_leaves_the_vm_running_at_the_source_unchanged()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 7, pages: 3000);
        using var link = new LoopbackMigration();
        using var kill = new CancellationTokenSource();
        var receiving = link.ReceiveAsync(Size, cancellationToken: kill.Token);
        byte[]? atPause = null;
        source.OnPaused = () => { atPause = source.Bytes.ToArray(); kill.Cancel(); };

        // A MigrationException or the IOException of the broken stream, whichever the source meets first.
        await Assert.ThrowsAnyAsync<Exception>(() => link.SendAsync(source, new MigrationOptions()));
        await Assert.ThrowsAnyAsync<Exception>(() => receiving);

        Assert.NotNull(atPause);              // it failed in the stop-and-copy, not before
        Assert.False(source.Paused);          // and the VM runs here again ...
        Assert.Equal(1, source.Resumes);
        Assert.False(source.DirtyLogActive);
        Assert.Equal(atPause, source.Bytes);  // ... with its memory as it was at the pause
        Assert.False(link.RanAtDestination);
    }

    private sealed class Progress(Action<MigrationProgress> onReport) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => onReport(value);
    }
}
