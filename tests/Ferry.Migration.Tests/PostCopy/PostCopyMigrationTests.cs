using Ferry.Migration.Source;
using Ferry.Migration.Destination;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Transport;

namespace Ferry.Migration.Tests.PostCopy;

/// <summary>
/// Post-copy and hybrid between simulated VMs over loopback: the destination runs first, its
/// missing pages fault and are fetched or pushed, and in the end it holds exactly the source's memory.
/// </summary>
public sealed class PostCopyMigrationTests
{
    private const ulong Size = 32 << 20;
    private const int Pages = (int)(Size / SimulatedVm.PageSize);

    private static MigrationOptions PostCopy(int streams = 1) => new() { Mode = MigrationMode.PostCopy, Streams = streams, VerifyMemory = true };

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, true)]
    public async Task Post_copy_resumes_at_once_and_every_page_arrives_exactly_once(int streams, bool compress)
    {
        using var source = new SimulatedVm(Size, state: [4, 2]).Fill(seed: 3, pages: 5000, zeroEvery: 9);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var report = await link.SendAsync(source, PostCopy(streams) with { Compress = compress });
        var outcome = await receiving;

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(MigrationMode.PostCopy, report.Mode);
        Assert.Equal(DestinationResult.Running, outcome.Result);
        Assert.True(link.RanAtDestination);
        Assert.Empty(report.Rounds); // nothing was copied before the switchover
        Assert.NotNull(outcome.PostCopy);
        var figures = await outcome.PostCopy!;     // the digest of every page as it arrived was checked too
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
        Assert.Equal([4, 2], link.Created!.LoadedState);
        Assert.Equal(0, source.Resumes);

        var pc = report.PostCopy!;
        long resident = Pages - report.UntouchedPages;
        Assert.Equal(resident, pc.PagesAtSwitchover);
        Assert.Equal(resident, figures.PagesByPush + figures.PagesByRequest); // each counted once at the destination
        Assert.InRange(pc.PagesPushed + pc.PagesRequested, resident, resident + pc.PagesRequested);
        Assert.NotNull(pc.Destination);
        Assert.True(report.Downtime < report.TotalTime);
        Assert.True(pc.Window > TimeSpan.Zero);
        Assert.StartsWith("post-copy", report.SwitchoverReason);
    }

    [Fact]
    public async Task A_fault_storm_right_after_the_switchover_reads_the_source_s_bytes_while_the_push_is_capped()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 8, pages: 6000);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        // A slow push, so the guest's touches outrun it and most pages come by request.
        var sending = link.SendAsync(source, PostCopy(streams: 2) with { BandwidthBytesPerSecond = 12_000_000, VerifyMemory = false });
        var outcome = await receiving;
        var destination = (SimulatedVm)outcome.Vm;
        var seen = await destination.TouchAllAsync(threads: 4);
        var figures = await outcome.PostCopy!;
        var report = await sending;

        Assert.Equal(source.Bytes, seen);                 // what the guest read while pages were missing
        Assert.Equal(source.Bytes, destination.Bytes);
        Assert.True(destination.FaultsRaised > 0);
        Assert.True(figures.PagesByRequest > 0);
        Assert.True(figures.ZeroFaults > 0);              // never-touched pages resolved locally, no round trip
        Assert.True(figures.RequestedPages <= 6000);      // a page the source held is asked for at most once ...
        Assert.Equal(figures.RequestedPages, report.PostCopy!.PagesRequested); // ... and served once per request
        Assert.True(figures.LatencyMax >= figures.LatencyP99 && figures.LatencyP99 >= figures.LatencyP50);
        Assert.Equal(figures.RequestedPages, figures.LatencyHistogram.Sum()); // one latency per page waited for, whichever path brought it
        Assert.NotEmpty(figures.BlockedPerThread);
    }

    [Fact]
    public async Task Threads_faulting_on_one_page_are_all_woken_by_one_request()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 2, pages: 3000);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var sending = link.SendAsync(source, PostCopy() with { BandwidthBytesPerSecond = 10_000_000, VerifyMemory = false });
        var outcome = await receiving;
        var destination = (SimulatedVm)outcome.Vm;
        ulong gpa = (ulong)Array.FindIndex(source.Bytes, b => b != 0) / SimulatedVm.PageSize * SimulatedVm.PageSize;
        var readers = Enumerable.Range(0, 6).Select(_ => Task.Run(() =>
        {
            var page = new byte[SimulatedVm.PageSize];
            destination.ReadGuest(gpa, page);
            return page;
        })).ToList();
        var pages = await Task.WhenAll(readers);
        var expected = source.Bytes.AsSpan((int)gpa, SimulatedVm.PageSize).ToArray();
        Assert.All(pages, p => Assert.Equal(expected, p));
        var figures = await outcome.PostCopy!;
        await sending;
        Assert.InRange(figures.RequestedPages, 0, 1);
    }

    [Fact]
    public async Task Hybrid_switches_to_post_copy_by_itself_when_the_guest_outruns_the_rounds()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 5, pages: 4000).StartWorkload(seed: 9, workingSetPages: 4000, pagesPerSecond: 0, zeroEvery: 5);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var report = await link.SendAsync(source, new MigrationOptions { Mode = MigrationMode.Hybrid, MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 4, Streams = 2, VerifyMemory = true });
        var outcome = await receiving;
        await outcome.PostCopy!;
        source.StopWorkload();

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Contains("switching to post-copy", report.SwitchoverReason);
        Assert.True(report.Rounds.Count >= 2);                  // the warm-up and the rounds went first
        Assert.DoesNotContain(report.Rounds, r => r.StopAndCopy); // and no stop-and-copy after them
        Assert.True(report.PostCopy!.PagesAtSwitchover > 0);
        // The push counts only its own bytes, not the rounds that went before on the same streams.
        Assert.InRange(report.PostCopy.BytesPushed, 0, (report.PostCopy.PagesPushed + 64) * 4200L);
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
    }

    [Fact]
    public async Task Migrate_postcopy_switches_a_running_hybrid_migration_by_hand()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 6, pages: 4000).StartWorkload(seed: 1, workingSetPages: 3000, pagesPerSecond: 0);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var options = new MigrationOptions { Mode = MigrationMode.Hybrid, MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 100_000, OnNoConverge = NoConvergeAction.Abort, Timeout = TimeSpan.FromSeconds(60) };
        var engine = new MigrationSource();
        var progress = new Progress(p => { if (p.Round >= 2) engine.RequestPostCopy(options); });
        var report = await link.SendAsync(source, options, progress: progress, source: engine);
        var outcome = await receiving;
        await outcome.PostCopy!;
        source.StopWorkload();

        Assert.Contains("on request", report.SwitchoverReason);
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
    }

    [Fact]
    public async Task Pre_copy_that_cannot_meet_the_limit_gives_up_by_default_and_the_vm_runs_on()
    {
        using var source = new SimulatedVm(Size).Fill(1, 3000).StartWorkload(2, 3000, pagesPerSecond: 0);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size);
        var e = await Assert.ThrowsAsync<MigrationException>(() =>
            link.SendAsync(source, new MigrationOptions { MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 3 }));

        Assert.Contains("giving up rather than pause the guest past --max-downtime", e.Message);
        Assert.False(source.Paused);
        Assert.Equal(0, source.Resumes);
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.False(link.RanAtDestination);
    }

    [Fact]
    public async Task A_destination_that_vanishes_before_the_commit_leaves_the_vm_running_at_the_source_unchanged()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 9, pages: 3000);
        using var link = new LoopbackMigration();
        using var kill = new CancellationTokenSource();
        var receiving = link.ReceiveAsync(Size, cancellationToken: kill.Token);
        byte[]? atPause = null;
        source.OnPaused = () => { atPause = source.Bytes.ToArray(); kill.Cancel(); };

        await Assert.ThrowsAnyAsync<Exception>(() => link.SendAsync(source, PostCopy()));
        await Assert.ThrowsAnyAsync<Exception>(() => receiving);

        Assert.NotNull(atPause);             // it failed at the switchover, before the commit
        Assert.False(source.Paused);         // the VM runs here again, as it was
        Assert.Equal(1, source.Resumes);
        Assert.False(source.DirtyLogActive);
        Assert.Equal(atPause, source.Bytes);
        Assert.False(link.RanAtDestination);
    }

    [Fact]
    public async Task Pre_copy_cannot_be_switched_to_post_copy()
    {
        var engine = new MigrationSource();
        Assert.False(engine.RequestPostCopy(new MigrationOptions { Mode = MigrationMode.PreCopy }));
        Assert.True(engine.RequestPostCopy(new MigrationOptions { Mode = MigrationMode.Hybrid }));
        await Task.CompletedTask;
    }

    private sealed class Progress(Action<MigrationProgress> onReport) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) => onReport(value);
    }
}
