using System.Numerics;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Storage;

/// <summary>
/// The destination's side of a `--copy-storage` post-copy: which blocks of each copied disk are
/// still at the source, the gate each disk's device asks before it touches the image, and the
/// only way a block from the source reaches the image (<see cref="Fill"/>).
/// <list type="bullet">
/// <item>A guest read of a missing block asks the source for it (through <see cref="Attach"/>'s
/// request, on the fault stream) and waits; a write that covers a missing block whole makes it
/// the guest's at once (no fetch), one that covers it in part fetches it first.</item>
/// <item>A block from the source (a request's reply or the push) is written only while still
/// missing, under the disk's lock: the guest's own write of a block always wins over the copy.</item>
/// </list>
/// Each disk's lock is held across a fill's pwrite (64 KiB) and never across a wait.
/// </summary>
public sealed class PostCopyDiskBlocks
{
    private const int BlockBytes = DiskCopy.BlockBytes;
    private readonly IReadOnlyList<IMigratableDisk> _disks;
    private readonly IReadOnlyList<long> _sizes;
    private readonly ulong[][] _missing;
    private readonly HashSet<long>[] _requested;
    private readonly object[] _locks;
    private long _remaining, _byRequest, _byPush, _takenByGuest;
    private Action<int, long>? _request;
    private Action? _allArrived;
    private volatile string? _lost;

    public PostCopyDiskBlocks(IReadOnlyList<IMigratableDisk> disks, IReadOnlyList<long> sizes, ulong[][] missing)
    {
        _disks = disks;
        _sizes = sizes;
        _missing = missing;
        _requested = [.. disks.Select(_ => new HashSet<long>())];
        _locks = [.. disks.Select(_ => new object())];
        _remaining = missing.Sum(m => m.Sum(w => (long)BitOperations.PopCount(w)));
    }

    public long RemainingBlocks => Interlocked.Read(ref _remaining);
    public long BlocksByRequest => Interlocked.Read(ref _byRequest);
    public long BlocksByPush => Interlocked.Read(ref _byPush);
    /// <summary>Missing blocks the guest overwrote whole: never fetched, the source's copy dropped.</summary>
    public long BlocksTakenByGuest => Interlocked.Read(ref _takenByGuest);

    /// <summary>
    /// Wires the gate to the fault stream: <paramref name="request"/> asks the source for a block
    /// (a no-op while the link is down; <see cref="Outstanding"/> is asked again on reattach), and
    /// <paramref name="allArrived"/> runs once when the last block is here.
    /// </summary>
    public void Attach(Action<int, long> request, Action allArrived)
    {
        _request = request;
        _allArrived = allArrived;
    }

    /// <summary>Puts the gates on the disks: from here on the guest's accesses wait for missing blocks.</summary>
    public void Arm()
    {
        for (int d = 0; d < _disks.Count; d++) _disks[d].SetPostCopyGate(new Gate(this, d));
    }

    /// <summary>Every block is here: the guest's accesses go straight to the images again.</summary>
    public void Disarm()
    {
        foreach (var disk in _disks) disk.SetPostCopyGate(null);
    }

    /// <summary>The source is lost: whoever waits, and whoever would, gets an I/O error.</summary>
    public void Fail(string why)
    {
        _lost = why;
        foreach (var gate in _locks) lock (gate) Monitor.PulseAll(gate);
    }

    /// <summary>The blocks asked for and not yet here (a reconnection asks again).</summary>
    public IReadOnlyList<(int Disk, long Block)> Outstanding()
    {
        var outstanding = new List<(int, long)>();
        for (int d = 0; d < _disks.Count; d++)
            lock (_locks[d]) outstanding.AddRange(_requested[d].Select(b => (d, b)));
        return outstanding;
    }

    /// <summary>What is still missing, a bitmap per disk: what a reconnected source must send.</summary>
    public ulong[][] StillMissing()
    {
        var copy = new ulong[_missing.Length][];
        for (int d = 0; d < _missing.Length; d++)
            lock (_locks[d]) copy[d] = [.. _missing[d]];
        return copy;
    }

    /// <summary>The PostCopyDiskBlocks section a reconnection answers with.</summary>
    public byte[] EncodeStillMissing() => MissingDiskBlocks.Encode(StillMissing(), _sizes);

    /// <summary>Every block is here: the copies reach stable storage (fdatasync).</summary>
    public void Flush()
    {
        foreach (var disk in _disks) disk.Flush();
    }

    /// <summary>Applies a pushed DiskBlocks section: each run must be one whole block; a block no longer missing is skipped.</summary>
    public void ApplyPushed(ReadOnlySpan<byte> payload) =>
        DiskBlocks.ForEachRun(payload, _sizes, (disk, offset, length, zeros, data) =>
        {
            if (offset % BlockBytes != 0 || length != BlockLength(disk, offset / BlockBytes))
                throw new ProtocolException($"a pushed disk blocks run [{offset}, +{length}) of disk {disk} is not one whole block");
            Fill(disk, offset / BlockBytes, zeros, data, byRequest: false);
        });

    /// <summary>
    /// A block from the source: written to the image if the guest still lacks it (returns true),
    /// skipped if it arrived already or the guest overwrote it. <paramref name="data"/> is empty for zeros.
    /// </summary>
    public bool Fill(int disk, long block, bool zeros, ReadOnlySpan<byte> data, bool byRequest)
    {
        if ((uint)disk >= (uint)_disks.Count || block < 0 || block >= DiskCopy.BlockCount(_sizes[disk]))
            throw new ProtocolException($"the source sent block {block} of disk {disk}, which is not a block of a copied disk");
        int length = BlockLength(disk, block);
        if (!zeros && data.Length != length)
            throw new ProtocolException($"the source sent {data.Length} bytes for block {block} of disk {disk}, which holds {length}");
        lock (_locks[disk])
        {
            if (!IsMissing(disk, block)) return false;
            long offset = block * BlockBytes;
            if (zeros) _disks[disk].Write(offset, ZeroBlock.AsSpan(0, length));
            else _disks[disk].Write(offset, data);
            Present(disk, block);
            Monitor.PulseAll(_locks[disk]);
        }
        Interlocked.Increment(ref byRequest ? ref _byRequest : ref _byPush);
        Arrived();
        return true;
    }

    private int BlockLength(int disk, long block) => DiskCopy.BlockLength(_sizes[disk], block);

    /// <summary>What a zero run writes: one block of zeros, shared (a push of an image's zero blocks allocates nothing).</summary>
    private static readonly byte[] ZeroBlock = new byte[BlockBytes];

    private bool IsMissing(int disk, long block) => (_missing[disk][block >> 6] & 1UL << (int)(block & 63)) != 0;

    /// <summary>Under the disk's lock.</summary>
    private void Present(int disk, long block)
    {
        _missing[disk][block >> 6] &= ~(1UL << (int)(block & 63));
        _requested[disk].Remove(block);
    }

    private void Arrived()
    {
        if (Interlocked.Decrement(ref _remaining) == 0) _allArrived?.Invoke();
    }

    /// <summary>The device's wait before it touches [offset, +length) of disk <paramref name="disk"/>.</summary>
    private void Await(int disk, long offset, long length, bool writing)
    {
        if (length <= 0) return;
        long first = offset / BlockBytes, last = Math.Min((offset + length - 1) / BlockBytes, DiskCopy.BlockCount(_sizes[disk]) - 1);
        List<long>? ask = null;
        int taken = 0;
        var gate = _locks[disk];
        lock (gate)
        {
            for (long b = first; b <= last; b++)
            {
                if (!IsMissing(disk, b)) continue;
                long start = b * BlockBytes;
                if (writing && offset <= start && offset + length >= start + BlockLength(disk, b))
                {
                    // Overwritten whole: the guest's bytes are the block now; a copy arriving later is dropped.
                    Present(disk, b);
                    taken++;
                    continue;
                }
                if (_requested[disk].Add(b)) (ask ??= []).Add(b);
            }
        }
        for (int i = 0; i < taken; i++)
        {
            Interlocked.Increment(ref _takenByGuest);
            Arrived();
        }
        // Asked outside the lock: a fill must not wait behind a send on a slow link.
        if (ask is not null && _request is { } request) foreach (long b in ask) request(disk, b);
        lock (gate)
        {
            while (true)
            {
                if (_lost is { } why) throw new IOException($"disk {disk}'s blocks are still at the source, which is lost: {why}");
                bool waiting = false;
                for (long b = first; b <= last && !waiting; b++) waiting = IsMissing(disk, b);
                if (!waiting) return;
                Monitor.Wait(gate);
            }
        }
    }

    private sealed class Gate(PostCopyDiskBlocks blocks, int disk) : IDiskBlockGate
    {
        public void BeforeRead(long offset, long length) => blocks.Await(disk, offset, length, writing: false);
        public void BeforeWrite(long offset, long length) => blocks.Await(disk, offset, length, writing: true);
    }
}
