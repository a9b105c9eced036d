using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Storage;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Transport;
using Ferry.Tests.Shared;

namespace Ferry.Migration.Tests.Storage;

/// <summary>
/// `--copy-storage` post-copy: the disk's blocks follow the switchover like the pages. The
/// destination's guest reads the source's bytes whether a block came by request or by push, a
/// write it makes is never overwritten by the source's older copy, and a broken link loses nothing.
/// </summary>
public sealed class DiskPostCopyTests
{
    private const ulong Size = 32 << 20;
    private const long DiskSize = 8 << 20;
    private const int Block = DiskCopy.BlockBytes;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    // The page push is slowed (~2.5 s for the filled pages), and the disk's blocks go after the
    // pages on each stream: the guest's first reads of its disk find its blocks still at the source.
    private static MigrationOptions SlowPostCopy() => new()
    {
        Mode = MigrationMode.PostCopy, Streams = 2, CopyStorage = true, BandwidthBytesPerSecond = 10_000_000, VerifyMemory = true,
        RecoveryTimeout = TimeSpan.FromSeconds(20),
    };

    private static SimulatedVm Source(int seed) =>
        new SimulatedVm(Size, diskSizes: [DiskSize]).Fill(seed, pages: 6000).FillDisk(0, seed + 1, pieces: 600);

    /// <summary>The first blocks of the disk that hold data (they are in the set the destination lacks).</summary>
    private static long[] BlocksWithData(byte[] disk, int count) =>
        [.. Enumerable.Range(0, (int)(DiskSize / Block)).Where(b => disk.AsSpan(b * Block, Block).ContainsAnyExcept((byte)0)).Take(count).Select(b => (long)b)];

    [Fact]
    public async Task The_guest_reads_the_source_bytes_at_once_and_its_own_writes_survive_the_push()
    {
        using var source = Source(seed: 11);
        var atPause = source.SimDisks[0].Bytes.ToArray(); // no guest writes at the source: this is the disk at the pause
        var (partial, whole) = BlocksWithData(atPause, 2) switch { [var a, var b] => (a, b), _ => throw new InvalidOperationException("no data") };
        using var link = new LoopbackMigration();
        var receiving = link.ReceiveAsync(Size, copyStorage: true);
        var sending = link.SendAsync(source, SlowPostCopy());
        var outcome = await receiving;
        var disk = ((SimulatedVm)outcome.Vm).SimDisks[0];
        Assert.True(disk.Gated);

        // A write covering part of a missing block: the rest of the block is fetched first.
        var mine = new byte[4096];
        new Random(3).NextBytes(mine);
        disk.GuestWrite(partial * Block + 8192, mine);
        // A write covering a missing block whole: the guest's bytes win over the source's copy.
        var wholeBlock = new byte[Block];
        new Random(4).NextBytes(wholeBlock);
        disk.GuestWrite(whole * Block, wholeBlock);
        var expected = atPause.ToArray();
        mine.CopyTo(expected, partial * Block + 8192);
        wholeBlock.CopyTo(expected, whole * Block);

        // Every block read, last first (the push goes first to last): each read waits for its block.
        var read = new byte[DiskSize];
        for (long b = DiskSize / Block - 1; b >= 0; b--) disk.GuestRead(b * Block, read.AsSpan((int)(b * Block), Block));
        Assert.Equal(expected, read);

        var report = await sending.WaitAsync(Patience);
        await outcome.PostCopy!.WaitAsync(Patience);
        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.Equal(expected, disk.Bytes);
        Assert.False(disk.Gated);
        Assert.True(disk.Flushes > 0);
        var storage = report.Storage!;
        Assert.True(storage.BlocksRequested > 0, "the guest's reads asked for blocks the push had not brought yet");
        Assert.True(storage.BlocksAtSwitchover > 0 && storage.BlocksAtSwitchover == storage.BlocksSent, "a post-copy sends no disk block before the switchover");
        Assert.False(source.SimDisks[0].WriteLogActive);
        Assert.Equal(atPause, source.SimDisks[0].Bytes);
    }

    [Fact]
    public async Task A_cut_link_during_the_disk_transfer_reconnects_and_every_block_arrives()
    {
        using var source = Source(seed: 21);
        var atPause = source.SimDisks[0].Bytes.ToArray();
        using var link = new LoopbackMigration();
        await using var proxy = new LinkProxy(link.Port);
        var receiving = link.ReceiveAsync(Size, recoveryTimeout: Patience, copyStorage: true);
        var sending = link.SendAsync(source, SlowPostCopy(), viaPort: proxy.Port);
        var outcome = await receiving;
        var disk = ((SimulatedVm)outcome.Vm).SimDisks[0];
        await Task.Delay(300);
        proxy.Cut();
        // The guest reads its whole disk across the break: those reads wait, none fails.
        var reading = Task.Run(() =>
        {
            var read = new byte[DiskSize];
            for (long b = 0; b < DiskSize / Block; b++) disk.GuestRead(b * Block, read.AsSpan((int)(b * Block), Block));
            return read;
        });
        var report = await sending.WaitAsync(Patience);
        await outcome.PostCopy!.WaitAsync(Patience);

        Assert.Equal(MigrationResult.Completed, report.Result);
        Assert.True(report.PostCopy!.Recoveries >= 1);
        Assert.Equal(atPause, await reading.WaitAsync(Patience));
        Assert.Equal(atPause, disk.Bytes);
        Assert.Equal(source.Bytes, ((SimulatedVm)outcome.Vm).Bytes);
    }

    [Fact]
    public async Task A_source_that_never_comes_back_fails_the_guest_s_waiting_disk_reads_with_an_io_error()
    {
        using var source = Source(seed: 31);
        using var link = new LoopbackMigration();
        await using var proxy = new LinkProxy(link.Port);
        var receiving = link.ReceiveAsync(Size, recoveryTimeout: TimeSpan.FromSeconds(1), copyStorage: true);
        var sending = link.SendAsync(source, SlowPostCopy() with { RecoveryTimeout = TimeSpan.FromSeconds(1) }, viaPort: proxy.Port);
        var outcome = await receiving;
        var disk = ((SimulatedVm)outcome.Vm).SimDisks[0];
        proxy.CutForGood();
        long last = DiskSize / Block - 1;
        var e = await Assert.ThrowsAsync<IOException>(() => Task.Run(() => disk.GuestRead(last * Block, new byte[Block])).WaitAsync(Patience));
        Assert.Contains("still at the source, which is lost", e.Message);
        await Assert.ThrowsAnyAsync<MigrationException>(() => outcome.PostCopy!.WaitAsync(Patience));
        var report = await sending.WaitAsync(Patience);
        Assert.Equal(MigrationResult.PostCopyInterrupted, report.Result);
        Assert.True(source.Paused, "the source holds its copy, paused");
    }

    [Fact]
    public void The_missing_blocks_section_names_no_block_outside_a_disk()
    {
        long[] sizes = [DiskSize, 3 * Block + 512];
        var missing = new[] { new ulong[2], new ulong[1] };
        missing[0][1] = 1UL << 63;
        missing[1][0] = 0b1111; // 4 blocks: three whole and a 512-byte tail
        var decoded = MissingDiskBlocks.Decode(MissingDiskBlocks.Encode(missing, sizes), sizes);
        Assert.Equal(missing, decoded);

        missing[1][0] = 0b11111; // a fifth block past the end
        var e = Assert.Throws<ProtocolException>(() => MissingDiskBlocks.Decode(MissingDiskBlocks.Encode(missing, sizes), sizes));
        Assert.Contains("past the end of disk 1", e.Message);
        Assert.Throws<ProtocolException>(() => MissingDiskBlocks.Decode(MissingDiskBlocks.Encode(missing, sizes), [DiskSize]));
        Assert.Throws<ProtocolException>(() => MissingDiskBlocks.Decode(MissingDiskBlocks.Encode(missing, sizes)[..^8], sizes));
    }

    [Fact]
    public void A_disk_reply_on_the_fault_stream_is_checked_before_a_byte_reaches_the_disk()
    {
        var block = new byte[Block];
        new Random(7).NextBytes(block);
        var buffer = new byte[FaultChannel.ReplyBufferBytes(4096, Block)];
        using var wire = new MemoryStream();
        FaultChannel.WriteDiskReply(wire, disk: 1, block: 77, block, buffer);
        FaultChannel.WriteDiskReply(wire, disk: 0, block: 3, new byte[Block], buffer);

        wire.Position = 0;
        Assert.True(FaultChannel.TryReadReply(wire, buffer, 4096, Block, out var reply));
        Assert.Equal((1, 77L), FaultChannel.SplitDiskKey(reply.Key));
        Assert.True(reply.Disk);
        Assert.Equal(block, buffer.AsSpan(FaultChannel.ReplyHeaderBytes, reply.Length).ToArray());
        Assert.True(FaultChannel.TryReadReply(wire, buffer, 4096, Block, out reply));
        Assert.True(reply is { Disk: true, Zero: true, Length: 0 });
        Assert.False(FaultChannel.TryReadReply(wire, buffer, 4096, Block, out _));

        // A migration without copied disks takes no disk reply; a flipped byte fails the checksum.
        wire.Position = 0;
        Assert.Throws<ProtocolException>(() => FaultChannel.TryReadReply(wire, buffer, 4096, 0, out _));
        var bytes = wire.ToArray();
        bytes[FaultChannel.ReplyHeaderBytes + 100] ^= 1;
        Assert.Throws<ProtocolException>(() => FaultChannel.TryReadReply(new MemoryStream(bytes), buffer, 4096, Block, out _));
    }

    [Fact]
    public void A_pushed_run_that_is_not_one_whole_block_is_refused()
    {
        var disk = new SimulatedDisk(DiskSize);
        var blocks = new PostCopyDiskBlocks([disk], [DiskSize], [new ulong[DiskSize / Block / 64]]);
        var run = new byte[DiskBlocks.RunHeaderBytes + 4096];
        DiskBlocks.WriteRunHeader(run, 0, zeros: false, offset: Block, length: 4096);
        var e = Assert.Throws<ProtocolException>(() => blocks.ApplyPushed(run));
        Assert.Contains("not one whole block", e.Message);
    }
}
