using Ferry.Migration.Destination;
using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Storage;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Transport;

namespace Ferry.Migration.Tests.Storage;

/// <summary>
/// `--copy-storage` between simulated VMs over loopback: the disks move with the VM in every mode,
/// blocks the guest writes during the rounds are sent again, and the destination's image ends
/// equal to the source's as it stood at the pause.
/// </summary>
public sealed class DiskCopyMigrationTests
{
    private const ulong Size = 16 << 20;
    private const long DiskSize = 8 << 20;

    [Theory]
    [InlineData(MigrationMode.Cold, 1)]
    [InlineData(MigrationMode.PreCopy, 1)]
    [InlineData(MigrationMode.PreCopy, 3)]
    [InlineData(MigrationMode.PostCopy, 2)]
    [InlineData(MigrationMode.Hybrid, 2)]
    public async Task The_disk_a_guest_keeps_writing_arrives_equal_to_the_source_at_the_pause(MigrationMode mode, int streams)
    {
        using var source = new SimulatedVm(Size, diskSizes: [DiskSize, DiskSize / 2]).Fill(seed: 1, pages: 500).FillDisk(0, seed: 2, pieces: 300).FillDisk(1, seed: 3, pieces: 50);
        if (mode != MigrationMode.Cold) source.StartDiskWorkload(seed: 4, writesPerMillisecond: 4, zeroEvery: 5);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, copyStorage: true);
        var options = new MigrationOptions { Mode = mode, Streams = streams, CopyStorage = true };
        // Pre-copy and hybrid: a target no round can meet forces rounds while the guest writes; hybrid then goes post-copy.
        if (mode is MigrationMode.PreCopy or MigrationMode.Hybrid)
            options = options with { MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 3, OnNoConverge = mode == MigrationMode.Hybrid ? NoConvergeAction.PostCopy : NoConvergeAction.Force };
        var report = await link.SendAsync(source, options);
        var outcome = await receiving;
        if (outcome.PostCopy is { } pages) await pages;
        source.StopWorkload();

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(DestinationResult.Running, outcome.Result);
        var destination = (SimulatedVm)outcome.Vm;
        Assert.Equal(source.SimDisks[0].Bytes, destination.SimDisks[0].Bytes);
        Assert.Equal(source.SimDisks[1].Bytes, destination.SimDisks[1].Bytes);
        Assert.Equal(source.Bytes, destination.Bytes);
        Assert.All(destination.SimDisks, d => Assert.True(d.Flushes > 0)); // fdatasync before Ready
        Assert.All(source.SimDisks, d => Assert.False(d.WriteLogActive));
        var storage = Assert.IsType<StorageReport>(report.Storage);
        Assert.True(storage.BytesSent > 0 && storage.BytesSent <= report.BytesSent);
        if (mode is MigrationMode.PreCopy or MigrationMode.Hybrid)
        {
            Assert.True(source.DiskWritesByGuest > 0);
            Assert.True(storage.BlocksResent > 0, "blocks written during the rounds are sent again");
        }
    }

    [Fact]
    public async Task Holes_and_zero_blocks_do_not_travel()
    {
        using var source = new SimulatedVm(Size, diskSizes: [DiskSize]);
        var piece = new byte[4096];
        new Random(5).NextBytes(piece);
        source.SimDisks[0].Write(3 * DiskCopy.BlockBytes + 4096, piece);  // one block with data
        source.SimDisks[0].Write(7 * DiskCopy.BlockBytes, new byte[4096]); // allocated, but zeros
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, copyStorage: true);
        var report = await link.SendAsync(source, new MigrationOptions { Mode = MigrationMode.Cold, CopyStorage = true });
        var outcome = await receiving;

        Assert.Equal(source.SimDisks[0].Bytes, ((SimulatedVm)outcome.Vm).SimDisks[0].Bytes);
        Assert.Equal(1, report.Storage!.BlocksSent);
        Assert.Equal(DiskCopy.BlockBytes + DiskBlocks.RunHeaderBytes, report.Storage.BytesSent);
    }

    [Fact]
    public async Task The_disk_copy_keeps_to_the_bandwidth_cap_as_the_pages_do()
    {
        // 8 MiB of disk data behind a 1 MB/s cap on a clock that moves only when told: each 4 MiB
        // section waits for its ~4 s, so nothing goes before the clock moves, and all of it after.
        var disk = new SimulatedDisk(DiskSize);
        var block = new byte[DiskCopy.BlockBytes];
        new Random(8).NextBytes(block);
        for (long b = 0; b < DiskSize / DiskCopy.BlockBytes; b++) disk.Write(b * DiskCopy.BlockBytes, block);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var copy = DiskCopy.Start([disk]);
        copy.Limiter = new BandwidthLimiter(1_000_000, clock);
        var wire = new MemoryStream();
        var sending = copy.SendPendingAsync(new Ferry.Migration.Format.SectionWriter(wire), 0, 1, CancellationToken.None);

        Assert.False(sending.IsCompleted);
        Assert.Equal(0, wire.Length);
        for (int i = 0; i < 100 && !sending.IsCompleted; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(sending, Task.Delay(20));
        }
        await sending;
        Assert.True(wire.Length > DiskSize);
        Assert.True(clock.GetUtcNow() - clock.Start >= TimeSpan.FromSeconds(7), $"8 MiB at 1 MB/s went in {(clock.GetUtcNow() - clock.Start).TotalSeconds} s of the cap's clock");
    }

    [Fact]
    public async Task Copy_storage_without_a_disk_is_refused_before_connecting()
    {
        using var source = new SimulatedVm(Size).Fill(1, 10);
        var e = await Assert.ThrowsAsync<MigrationException>(() => new MigrationSource().RunAsync(source,
            _ => throw new InvalidOperationException("must not connect"), new MigrationOptions { CopyStorage = true }, null, CancellationToken.None));
        Assert.Equal("--copy-storage: this VM has no disk to copy (run it with --disk PATH)", e.Message);
        Assert.False(source.Paused);
    }

    [Fact]
    public async Task A_receiver_that_cannot_take_copied_disks_refuses_and_the_vm_runs_on_at_the_source_with_its_disk()
    {
        using var source = new SimulatedVm(Size, diskSizes: [DiskSize]).FillDisk(0, seed: 6, pieces: 100);
        var before = source.SimDisks[0].Bytes.ToArray();
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, copyStorage: false);
        var e = await Assert.ThrowsAnyAsync<MigrationException>(() => link.SendAsync(source, new MigrationOptions { CopyStorage = true }));
        Assert.Contains("--copy-storage", e.Message);
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.False(source.Paused);
        Assert.False(source.SimDisks[0].WriteLogActive);
        Assert.Equal(before, source.SimDisks[0].Bytes);
    }

    [Fact]
    public async Task A_source_speaking_version_3_cannot_slip_disk_images_past_the_destination()
    {
        using var source = new SimulatedVm(Size, diskSizes: [DiskSize]).FillDisk(0, seed: 6, pieces: 10);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, copyStorage: true);
        var e = await Assert.ThrowsAnyAsync<MigrationException>(() => new MigrationSource().RunAsync(source,
            ct => MigrationConnector.ConnectAsync("127.0.0.1", link.Port, 1, MigrationMode.PreCopy, LoopbackMigration.Token, null, ct, version: 3),
            new MigrationOptions { CopyStorage = true }, null, CancellationToken.None));
        Assert.Contains("--copy-storage", e.Message);
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.Null(link.Created);
        Assert.False(source.Paused);
    }

    [Fact]
    public async Task Cancelling_during_the_rounds_leaves_the_vm_and_its_disk_at_the_source()
    {
        using var source = new SimulatedVm(Size, diskSizes: [DiskSize]).Fill(1, 1000).FillDisk(0, 2, 200)
            .StartWorkload(3, 1000, pagesPerSecond: 0).StartDiskWorkload(4, writesPerMillisecond: 2);
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, copyStorage: true);
        using var cancel = new CancellationTokenSource();
        var progress = new Progress(p => { if (p.Round >= 2) cancel.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => link.SendAsync(source,
            new MigrationOptions { CopyStorage = true, MaxDowntime = TimeSpan.FromMicroseconds(1), MaxRounds = 1000 }, cancel.Token, progress: progress));

        Assert.False(source.Paused);
        Assert.False(source.SimDisks[0].WriteLogActive);
        await Assert.ThrowsAnyAsync<MigrationException>(() => receiving);
        Assert.True(link.Created!.Disposed);
        Assert.False(link.RanAtDestination);
        long written = source.DiskWritesByGuest;
        SpinWait.SpinUntil(() => source.DiskWritesByGuest > written, 2000);
        Assert.True(source.DiskWritesByGuest > written, "the guest writes on to its disk at the source");
        source.StopWorkload();
    }
}

file sealed class Progress(Action<MigrationProgress> onReport) : IProgress<MigrationProgress>
{
    public void Report(MigrationProgress value) => onReport(value);
}
