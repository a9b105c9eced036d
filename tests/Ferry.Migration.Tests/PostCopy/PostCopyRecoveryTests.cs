using Ferry.Migration.Source;
using Ferry.Migration.Destination;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Transport;
using Ferry.Tests.Shared;

namespace Ferry.Migration.Tests.PostCopy;

/// <summary>
/// A link that breaks during post-copy loses nothing: the destination's guest waits, the source
/// keeps its pages and reconnects, and the transfer finishes; past the recovery timeout both
/// sides give up, the destination's VM as lost and the source's copy held.
/// </summary>
public sealed class PostCopyRecoveryTests
{
    private const ulong Size = 32 << 20;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    // A slow push (~3 s for the filled pages), so the link can be cut while pages are still at the source.
    private static MigrationOptions SlowPostCopy() => new()
    {
        Mode = MigrationMode.PostCopy, Streams = 2, BandwidthBytesPerSecond = 10_000_000, VerifyMemory = true,
        RecoveryTimeout = TimeSpan.FromSeconds(20),
    };

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), "the condition never held");
    }

    [Fact]
    public async Task A_cut_link_reconnects_and_the_transfer_finishes_with_every_page()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 4, pages: 6000);
        using var link = new LoopbackMigration();
        await using var proxy = new LinkProxy(link.Port);
        var receiving = link.ReceiveAsync(Size, recoveryTimeout: Patience);
        var sending = link.SendAsync(source, SlowPostCopy(), viaPort: proxy.Port);
        var outcome = await receiving;
        var destination = (SimulatedVm)outcome.Vm;
        await Task.Delay(400);
        proxy.Cut();
        // The guest keeps touching its memory across the break; those touches wait, none fails.
        var touching = destination.TouchAllAsync(threads: 2);
        var report = await sending.WaitAsync(Patience);
        var figures = await outcome.PostCopy!.WaitAsync(Patience);

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.True(report.PostCopy!.Recoveries >= 1);
        Assert.True(proxy.Connections > 3); // 3 streams, then 3 more
        Assert.Equal(source.Bytes, await touching);
        Assert.Equal(source.Bytes, destination.Bytes);
        Assert.True(figures.PagesByPush + figures.PagesByRequest > 0);
    }

    [Fact]
    public async Task A_second_cut_during_recovery_is_recovered_too()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 5, pages: 6000);
        using var link = new LoopbackMigration();
        await using var proxy = new LinkProxy(link.Port);
        var receiving = link.ReceiveAsync(Size, recoveryTimeout: Patience);
        var sending = link.SendAsync(source, SlowPostCopy(), viaPort: proxy.Port);
        var outcome = await receiving;
        await Task.Delay(300);
        proxy.Cut();
        await WaitUntil(() => proxy.Connections >= 6); // the source is back ...
        proxy.Cut();                                    // ... and the link breaks again at once
        var report = await sending.WaitAsync(Patience);
        await outcome.PostCopy!.WaitAsync(Patience);

        Assert.Equal(MigrationResult.Completed, report.Result);
        // Whether the second cut met the reconnection's handshake or the transfer after it, a third set of streams finished the job.
        Assert.True(report.PostCopy!.Recoveries >= 1);
        Assert.True(proxy.Connections >= 9, $"{proxy.Connections} connections");
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
    }

    [Fact]
    public async Task Migrate_recover_reconnects_to_a_new_address_when_the_old_path_is_gone()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 6, pages: 6000);
        using var link = new LoopbackMigration();
        await using var proxy = new LinkProxy(link.Port);
        var engine = new MigrationSource();
        var receiving = link.ReceiveAsync(Size, recoveryTimeout: Patience);
        var sending = link.SendAsync(source, SlowPostCopy(), viaPort: proxy.Port, source: engine);
        var outcome = await receiving;
        await Task.Delay(300);
        proxy.CutForGood();
        await Task.Delay(1500); // a retry or two to the dead path
        Assert.True(engine.RequestRecovery($"127.0.0.1:{link.Port}"));
        var report = await sending.WaitAsync(Patience);
        await outcome.PostCopy!.WaitAsync(Patience);

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
    }

    [Fact]
    public async Task A_source_that_never_comes_back_loses_the_vm_at_the_destination_and_holds_its_copy()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 7, pages: 6000);
        using var link = new LoopbackMigration();
        await using var proxy = new LinkProxy(link.Port);
        var receiving = link.ReceiveAsync(Size, recoveryTimeout: TimeSpan.FromSeconds(2));
        var sending = link.SendAsync(source, SlowPostCopy() with { RecoveryTimeout = TimeSpan.FromSeconds(2) }, viaPort: proxy.Port);
        var outcome = await receiving;
        await Task.Delay(300);
        proxy.CutForGood();

        var lost = await Assert.ThrowsAsync<MigrationException>(() => outcome.PostCopy!.WaitAsync(Patience));
        Assert.Contains("did not come back within 2 s", lost.Message);
        var report = await sending.WaitAsync(Patience);
        Assert.Equal(MigrationResult.PostCopyInterrupted, report.Result);
        Assert.Contains("could not be reached again", report.Detail);
        Assert.True(source.Paused);        // held with every page, never resumed on its own
        Assert.Equal(0, source.Resumes);
    }

    [Fact]
    public void Recovery_is_refused_before_a_post_copy_switchover() =>
        Assert.False(new MigrationSource().RequestRecovery(null));
}
