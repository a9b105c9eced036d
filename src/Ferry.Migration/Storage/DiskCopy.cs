using System.Numerics;
using Ferry.Migration.Format;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Storage;

/// <summary>
/// The source's side of `--copy-storage`: the VM's images travel like its memory. The write log
/// starts before anything is read; the first pass sends every block that holds data (holes and
/// all-zero blocks stay behind: the destination's new image reads as zeros); later passes send
/// the blocks the guest wrote meanwhile, a block that became zero as a zero run. The last pass
/// runs with the VM paused and its devices drained, so nothing is in flight and the copy is whole.
/// A block's 4 MiB chunk (64 blocks, one word of the bitmap) picks its stream, as a page's 2 MiB
/// chunk does, so every copy of a block travels on the same stream and a newer copy never
/// overtakes an older one; each stream's task touches only its own words.
/// In post-copy (protocol version 5) the last pass does not run while paused: the blocks still
/// pending at the switchover are what the destination lacks (PostCopyDiskBlocks); the push sends
/// them after the resume while the request server answers the ones the guest asks for first.
/// A request takes its block out of the pending set, so the push skips it.
/// </summary>
internal sealed class DiskCopy : IDisposable
{
    public const int BlockBytes = 64 << 10;
    private readonly IReadOnlyList<IMigratableDisk> _disks;
    private readonly IDiskWriteLog[] _logs;
    private readonly ulong[][] _pending;
    private readonly ulong[][] _sent;
    private long _bytesSent, _blocksSent, _blocksResent, _zeroBlocks, _blocksRequested;

    private DiskCopy(IReadOnlyList<IMigratableDisk> disks, IDiskWriteLog[] logs)
    {
        _disks = disks;
        _logs = logs;
        _pending = [.. disks.Select(d => new ulong[(Blocks(d) + 63) / 64])];
        _sent = [.. disks.Select(d => new ulong[(Blocks(d) + 63) / 64])];
    }

    /// <summary>The VM's disks, or a one-line refusal when it has none to copy.</summary>
    public static IReadOnlyList<IMigratableDisk> DisksOf(IMigratableVm vm) =>
        vm is IMigratableDisks { Disks.Count: > 0 } d ? d.Disks : throw new MigrationException("--copy-storage: this VM has no disk to copy (run it with --disk PATH)");

    /// <summary>Starts tracking writes, then marks every block that holds data as still to send.</summary>
    public static DiskCopy Start(IReadOnlyList<IMigratableDisk> disks)
    {
        var logs = new List<IDiskWriteLog>();
        try
        {
            foreach (var disk in disks) logs.Add(disk.StartWriteLog(BlockBytes));
        }
        catch
        {
            foreach (var log in logs) log.Dispose();
            throw;
        }
        var copy = new DiskCopy(disks, [.. logs]);
        for (int d = 0; d < disks.Count; d++)
            foreach (var (offset, length) in disks[d].DataExtents())
            {
                if (length <= 0) continue;
                long last = Math.Min((offset + length - 1) / BlockBytes, Blocks(disks[d]) - 1);
                for (long b = offset / BlockBytes; b <= last; b++) copy._pending[d][b >> 6] |= 1UL << (int)(b & 63);
            }
        return copy;
    }

    private static long Blocks(IMigratableDisk disk) => BlockCount(disk.SizeBytes);

    /// <summary>How many blocks a disk of <paramref name="sizeBytes"/> has (the last may be short).</summary>
    public static long BlockCount(long sizeBytes) => (sizeBytes + BlockBytes - 1) / BlockBytes;

    /// <summary>The bytes of block <paramref name="block"/> of a disk of <paramref name="sizeBytes"/>: BlockBytes, or fewer for the last.</summary>
    public static int BlockLength(long sizeBytes, long block) => (int)Math.Min(BlockBytes, sizeBytes - block * BlockBytes);

    public IReadOnlyList<long> Sizes => [.. _disks.Select(d => d.SizeBytes)];
    /// <summary>Section payload bytes sent so far (block data and run headers).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public long BlocksSent => Interlocked.Read(ref _blocksSent);
    /// <summary>Blocks sent again because the guest wrote them after an earlier copy.</summary>
    public long BlocksResent => Interlocked.Read(ref _blocksResent);
    /// <summary>Blocks that held data but read as zeros when their turn came (skipped, or sent as a zero run).</summary>
    public long ZeroBlocks => Interlocked.Read(ref _zeroBlocks);

    /// <summary>Blocks the destination's guest asked for after a post-copy switchover (each also counted in BlocksSent).</summary>
    public long BlocksRequested => Interlocked.Read(ref _blocksRequested);

    public long PendingBlocks => _pending.Sum(p => p.Sum(w => (long)BitOperations.PopCount(w)));
    public long PendingBytes => PendingBlocks * BlockBytes;

    /// <summary>Adds the blocks the guest wrote since the last collection to those still to send; returns how many are pending.</summary>
    public long CollectWritten()
    {
        for (int d = 0; d < _disks.Count; d++) _logs[d].CollectInto(_pending[d]);
        return PendingBlocks;
    }

    /// <summary>A copy of the pending blocks, a bitmap per disk: at a post-copy switchover, what the destination lacks.</summary>
    public ulong[][] PendingBlocksByDisk()
    {
        var copy = new ulong[_pending.Length][];
        for (int d = 0; d < _pending.Length; d++)
        {
            copy[d] = new ulong[_pending[d].Length];
            for (int w = 0; w < copy[d].Length; w++) copy[d][w] = Volatile.Read(ref _pending[d][w]);
        }
        return copy;
    }

    /// <summary>After a post-copy reconnection: the blocks the destination says it still lacks are what remains to send.</summary>
    public void ReplacePending(IReadOnlyList<ulong[]> missing)
    {
        for (int d = 0; d < _pending.Length; d++)
            for (int w = 0; w < _pending[d].Length; w++) Interlocked.Exchange(ref _pending[d][w], missing[d][w]);
    }

    /// <summary>
    /// A post-copy request: reads block <paramref name="block"/> of disk <paramref name="disk"/> into
    /// <paramref name="buffer"/> (returns its length) and takes it out of what the push still sends.
    /// </summary>
    public int ReadRequested(int disk, long block, Span<byte> buffer)
    {
        if ((uint)disk >= (uint)_disks.Count || block < 0 || block >= Blocks(_disks[disk]))
            throw new ProtocolException($"the destination asked for block {block} of disk {disk}, which is not a block of a copied disk");
        Interlocked.And(ref _pending[disk][block >> 6], ~(1UL << (int)(block & 63)));
        int length = BlockLength(_disks[disk].SizeBytes, block);
        _disks[disk].Read(block * BlockBytes, buffer[..length]);
        Interlocked.Or(ref _sent[disk][block >> 6], 1UL << (int)(block & 63));
        Interlocked.Increment(ref _blocksSent);
        Interlocked.Increment(ref _blocksRequested);
        return length;
    }

    public void CountRequestBytes(long bytes) => Interlocked.Add(ref _bytesSent, bytes);

    /// <summary>Sends every pending block of stream <paramref name="stream"/>'s share (of <paramref name="streams"/>) on <paramref name="writer"/> and clears them.</summary>
    /// <param name="everyBlock">
    /// Post-copy: a zero block goes too, as a zero run (the destination waits for every block it
    /// was told it lacks); otherwise a zero block the destination never got needs nothing.
    /// </param>
    public async Task SendPendingAsync(SectionWriter writer, int stream, int streams, CancellationToken cancellationToken, bool everyBlock = false)
    {
        // Allocated only when there is something to send: most live rounds find no block written on most streams.
        byte[]? section = null, buffer = null;
        int used = 0;
        for (int d = 0; d < _disks.Count; d++)
        {
            var disk = _disks[d];
            var pending = _pending[d];
            for (int w = stream; w < pending.Length; w += streams)
            {
                // Cleared before the blocks are read: a write landing after this is marked again
                // (and, in post-copy, a block requested meanwhile is the request server's).
                ulong bits = Interlocked.Exchange(ref pending[w], 0);
                while (bits != 0)
                {
                    int bit = BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    long block = (long)w * 64 + bit;
                    long offset = block * BlockBytes;
                    int length = BlockLength(disk.SizeBytes, block);
                    cancellationToken.ThrowIfCancellationRequested();
                    section ??= new byte[DiskBlocks.MaxPayloadBytes];
                    buffer ??= new byte[BlockBytes];
                    disk.Read(offset, buffer.AsSpan(0, length));
                    bool zeros = !buffer.AsSpan(0, length).ContainsAnyExcept((byte)0);
                    bool sentBefore = (Volatile.Read(ref _sent[d][w]) & 1UL << bit) != 0;
                    if (zeros) Interlocked.Increment(ref _zeroBlocks);
                    // The destination's image starts as zeros: a zero block it never got needs nothing.
                    if (zeros && !sentBefore && !everyBlock) continue;
                    int need = DiskBlocks.RunHeaderBytes + (zeros ? 0 : length);
                    if (used + need > section.Length)
                    {
                        await WriteAsync(writer, section, used, cancellationToken);
                        used = 0;
                    }
                    DiskBlocks.WriteRunHeader(section.AsSpan(used), d, zeros, offset, length);
                    if (!zeros) buffer.AsSpan(0, length).CopyTo(section.AsSpan(used + DiskBlocks.RunHeaderBytes));
                    used += need;
                    Interlocked.Increment(ref _blocksSent);
                    if (sentBefore) Interlocked.Increment(ref _blocksResent);
                    Interlocked.Or(ref _sent[d][w], 1UL << bit);
                }
            }
        }
        if (used > 0) await WriteAsync(writer, section!, used, cancellationToken);
    }

    /// <summary>`--bandwidth` (the limiter the pages share): the disk's sections count against it too; fault replies never wait.</summary>
    public BandwidthLimiter? Limiter { get; set; }

    private async Task WriteAsync(SectionWriter writer, byte[] section, int used, CancellationToken cancellationToken)
    {
        if (Limiter is { } limiter) await limiter.WaitAsync(used, cancellationToken);
        await writer.WriteAsync(SectionType.DiskBlocks, section.AsMemory(0, used), cancellationToken);
        Interlocked.Add(ref _bytesSent, used);
    }

    public void Dispose()
    {
        foreach (var log in _logs) log.Dispose();
    }
}
