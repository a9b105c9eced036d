using Ferry.Migration.Destination;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Transport;
using Ferry.Migration.Transport.Faults;

namespace Ferry.Migration.Tests.Transport.Faults;

/// <summary>
/// Real migrations of simulated VMs whose link is a <see cref="LinkFaults"/> in the engine's
/// network seam (both the connector's and the listener's connections join it): a cut
/// mid-transfer, a stall the time limits end, a stall that heals in time, a path that comes back
/// for post-copy, and a shaped link. Nothing here asserts how long anything took.
/// </summary>
public sealed class FaultyNetworkMigrationTests
{
    private const ulong Size = 32 << 20;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly LinkFaults _link = new();

    private LoopbackMigration Migration() => new(new FaultyNetwork(_link));

    private async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 1200 && !condition(); i++) await Task.Delay(25);
        Assert.True(condition(), $"the condition never held ({_link.BytesCarried} bytes carried)");
    }

    /// <summary>What a link that failed a migration leaves at the source: its own error, one line.</summary>
    private static async Task<Exception> FailureOf(Task<MigrationReport> sending)
    {
        var e = await Record.ExceptionAsync(() => sending.WaitAsync(Patience));
        Assert.True(e is MigrationException or IOException, $"{e?.GetType().Name}: {e?.Message}");
        return e!;
    }

    [Theory]
    [InlineData(MigrationMode.Cold)]
    [InlineData(MigrationMode.PreCopy)]
    public async Task A_cut_mid_transfer_fails_the_migration_and_the_vm_runs_on_at_the_source_with_its_memory_intact(MigrationMode mode)
    {
        using var source = new SimulatedVm(Size, state: [1, 2]).Fill(seed: 21, pages: 6000);
        byte[] before = [.. source.Bytes];
        using var migration = Migration();
        _link.CutAfter(4 << 20, refuseNewConnections: true);
        var receiving = migration.ReceiveAsync(Size);
        var sending = migration.SendAsync(source, new MigrationOptions { Mode = mode, Streams = 2 });

        await FailureOf(sending);
        await Assert.ThrowsAnyAsync<Exception>(() => receiving.WaitAsync(Patience));

        Assert.True(_link.IsRefusing);
        Assert.False(source.Paused);
        Assert.False(source.DirtyLogActive);
        Assert.Equal(before, source.Bytes);
        Assert.False(migration.RanAtDestination);
        Assert.True(migration.Created!.Disposed); // the destination's copy is discarded
    }

    [Fact]
    public async Task A_stalled_link_is_given_up_on_by_both_sides_once_their_stall_limits_pass()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 22, pages: 6000);
        byte[] before = [.. source.Bytes];
        using var migration = Migration();
        var receiving = migration.ReceiveAsync(Size, timeouts: new MigrationTimeouts { DestinationStall = TimeSpan.FromSeconds(2) });
        // A capped warm-up (~2.5 s), so the stall lands in the middle of it.
        var sending = migration.SendAsync(source, new MigrationOptions { Streams = 2, BandwidthBytesPerSecond = 10_000_000 },
            source: new MigrationSource(new MigrationTimeouts { SourceStall = TimeSpan.FromSeconds(1) }));
        await WaitUntil(() => _link.BytesCarried > 4 << 20);

        _link.Stall();

        var atSource = await FailureOf(sending);
        Assert.Contains("took nothing for 1 s", atSource.ToString());
        var atDestination = await Assert.ThrowsAnyAsync<Exception>(() => receiving.WaitAsync(Patience));
        Assert.Contains("sent nothing for 2 s", atDestination.ToString());
        Assert.True(_link.IsStalled);
        Assert.False(source.Paused);
        Assert.Equal(before, source.Bytes);
        Assert.False(migration.RanAtDestination);
    }

    [Fact]
    public async Task A_stall_that_heals_within_the_limits_only_delays_the_migration()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 23, pages: 6000).StartWorkload(seed: 24, workingSetPages: 2000, pagesPerSecond: 2000);
        using var migration = Migration();
        var receiving = migration.ReceiveAsync(Size);
        var sending = migration.SendAsync(source, new MigrationOptions { Streams = 2, BandwidthBytesPerSecond = 10_000_000, VerifyMemory = true,
            MaxRounds = 10, OnNoConverge = NoConvergeAction.Force });
        await WaitUntil(() => _link.BytesCarried > 4 << 20);

        _link.Stall();
        long carried = _link.BytesCarried;
        await Task.Delay(300);
        Assert.False(sending.IsCompleted);
        Assert.Equal(carried, _link.BytesCarried); // not a byte crossed meanwhile
        _link.Heal();

        var report = await sending.WaitAsync(Patience);
        var (result, vm, _) = await receiving.WaitAsync(Patience);
        source.StopWorkload();
        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(DestinationResult.Running, result);
        Assert.Equal(source.Bytes, ((SimulatedVm)vm).Bytes);
    }

    [Fact]
    public async Task A_post_copy_whose_path_is_cut_for_good_finishes_once_the_link_heals()
    {
        using var source = new SimulatedVm(Size).Fill(seed: 25, pages: 6000);
        using var migration = Migration();
        var receiving = migration.ReceiveAsync(Size, recoveryTimeout: Patience);
        // A slow push (~2.5 s), so the cut finds pages still at the source.
        var sending = migration.SendAsync(source, new MigrationOptions
        {
            Mode = MigrationMode.PostCopy, Streams = 2, BandwidthBytesPerSecond = 10_000_000, VerifyMemory = true, RecoveryTimeout = Patience,
        });
        var outcome = await receiving.WaitAsync(Patience);
        var destination = (SimulatedVm)outcome.Vm;

        _link.Cut(refuseNewConnections: true);
        var touching = destination.TouchAllAsync(threads: 2); // the guest waits across the break
        await WaitUntil(() => _link.Refused >= 2);             // the source tried again, and again
        _link.Heal();

        var report = await sending.WaitAsync(Patience);
        await outcome.PostCopy!.WaitAsync(Patience);
        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.True(report.PostCopy!.Recoveries >= 1);
        Assert.Equal(source.Bytes, await touching.WaitAsync(Patience));
        Assert.Equal(source.Bytes, destination.Bytes);
    }

    [Theory]
    [InlineData(MigrationMode.PreCopy)]
    [InlineData(MigrationMode.PostCopy)]
    public async Task A_shaped_link_carries_the_whole_vm_exactly(MigrationMode mode)
    {
        _link.Reshape(new LinkShape(BitsPerSecond: 400_000_000, Latency: TimeSpan.FromMilliseconds(5)));
        using var source = new SimulatedVm(Size, state: [7]).Fill(seed: 26, pages: 4000, zeroEvery: 9)
            .StartWorkload(seed: 27, workingSetPages: 1000, pagesPerSecond: 1000);
        using var migration = Migration();
        var receiving = migration.ReceiveAsync(Size);
        var report = await migration.SendAsync(source, new MigrationOptions
        {
            Mode = mode, Streams = 2, VerifyMemory = true, MaxRounds = 10, OnNoConverge = NoConvergeAction.Force,
        }).WaitAsync(Patience);
        var outcome = await receiving.WaitAsync(Patience);
        if (outcome.PostCopy is { } postCopy) await postCopy.WaitAsync(Patience);
        source.StopWorkload();

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(DestinationResult.Running, outcome.Result);
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
        Assert.Equal([7], migration.Created!.LoadedState);
        Assert.True(_link.BytesCarried >= report.BytesSent, $"{_link.BytesCarried} carried, {report.BytesSent} sent");
    }
}
