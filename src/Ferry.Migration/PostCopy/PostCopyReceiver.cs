using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// The destination's side of post-copy, from the moment guest RAM is armed until every page the
/// source held is here:
/// <code>
///   fault thread   WaitForFault → zero page (not at the source) | PageRequest on the fault stream
///   reply thread   fault stream → page replies (FaultChannel) → install, wake the waiters
///   push readers   one per bulk stream → the source's pushed sections → install; End when done
/// </code>
/// A page arriving by push and by request at once is installed once (the second install finds it
/// present). The fault stream carries nothing but requests and their replies, so a request never
/// waits behind pushed megabytes. When the link breaks, nothing is lost: faulting threads keep
/// waiting, requests made meanwhile are kept, and <see cref="Reattach"/> picks up on the source's
/// new streams (sending every outstanding request again). <see cref="Completion"/> fails only when
/// the caller gives up on the source: the VM cannot run on with pages missing. With
/// `--copy-storage` the disks' missing blocks (<see cref="Storage.PostCopyDiskBlocks"/>) come the
/// same two ways, and <see cref="Completion"/> waits for them too.
/// </summary>
public sealed class PostCopyReceiver : IAsyncDisposable
{
    private readonly IMissingPages _missing;
    private readonly GuestMemoryLayout _layout;
    private readonly AtomicPageMap _fetch;
    private readonly AtomicPageMap _received;
    private volatile Stream? _faultStream;
    private TaskCompletionSource _linkLost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    // Pages requested and not yet here: when each was first faulted on, and who waits.
    private readonly Dictionary<long, PendingFault> _pending = [];
    private readonly Dictionary<int, long> _blockedTicks = [];
    private readonly List<long> _latencyTicks = [];
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _request = new byte[FaultChannel.RequestBytes];
    private ulong[]? _pageHashes; // per page, for the test-only digest check; 0 = zero page
    private Thread? _faultThread;
    private Thread? _replyThread;
    private long _remaining, _faults, _zeroFaults, _requested, _byRequest, _byPush;
    private long _resumedAt, _allPresentAt;

    /// <param name="disks">`--copy-storage`: the disks' blocks still at the source; null when storage is shared or the disks arrived before the switchover.</param>
    public PostCopyReceiver(IMissingPages missing, GuestMemoryLayout layout, IReadOnlyList<PageSet> fetch, Stream faultStream, TimeProvider time,
        Storage.PostCopyDiskBlocks? disks = null)
    {
        _missing = missing;
        _layout = layout;
        _fetch = AtomicPageMap.Of(layout, fetch);
        _received = new AtomicPageMap(layout);
        _faultStream = faultStream;
        _time = time;
        _remaining = _fetch.Count();
        Disks = disks;
        disks?.Attach(SendDiskRequest, CheckComplete);
        CheckComplete();
    }

    /// <summary>`--copy-storage`: the disks' blocks still at the source, or null.</summary>
    public Storage.PostCopyDiskBlocks? Disks { get; }

    /// <summary>Completes once every page and every disk block is here.</summary>
    private void CheckComplete()
    {
        if (RemainingPages > 0 || (Disks?.RemainingBlocks ?? 0) > 0) return;
        Interlocked.CompareExchange(ref _allPresentAt, _time.GetTimestamp(), 0);
        _complete.TrySetResult();
    }

    /// <summary>Completes when every page the source held is here; fails when the source can no longer be reached.</summary>
    public Task Completion => _complete.Task;

    public long RemainingPages => Interlocked.Read(ref _remaining);
    public long Faults => Interlocked.Read(ref _faults);
    public long PagesByRequest => Interlocked.Read(ref _byRequest);
    public long PagesByPush => Interlocked.Read(ref _byPush);

    /// <summary>Completes when the current link to the source broke (why, as its message); a new one comes with <see cref="Reattach"/>.</summary>
    public Task<string> LinkLost => _linkLost.Task.ContinueWith(_ => _lostReason ?? "the link broke", TaskScheduler.Default);
    private volatile string? _lostReason;

    /// <summary>Why the link is down now, or null while it is up.</summary>
    public string? LinkDown => _faultStream is null ? _lostReason ?? "the link broke" : null;

    /// <summary>The link broke (a push stream, the fault stream): wait for the source to come back.</summary>
    public void Detach(string reason)
    {
        lock (_lock)
        {
            if (_faultStream is null) return;
            _lostReason = reason;
            _faultStream = null;
        }
        _linkLost.TrySetResult();
    }

    /// <summary>
    /// The source is back on a new fault stream: serve replies from it and ask again for every
    /// page still waited for (a request or its reply may have died with the old link).
    /// </summary>
    public void Reattach(Stream faultStream)
    {
        List<long> outstanding;
        lock (_lock)
        {
            _linkLost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _lostReason = null;
            _faultStream = faultStream;
            outstanding = [.. _pending.Keys];
        }
        StartReplyThread(faultStream);
        try
        {
            lock (_sendLock)
            {
                foreach (long page in outstanding) FaultChannel.WriteRequest(faultStream, _fetch.GpaOf(page), _request);
                foreach (var (disk, block) in Disks?.Outstanding() ?? []) FaultChannel.WriteDiskRequest(faultStream, disk, block, _request);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            Detach($"the new fault stream broke at once: {e.Message}");
        }
    }

    /// <summary>The pages still missing here, one set per region: what a reconnected source must send.</summary>
    public IReadOnlyList<PageSet> StillMissing() => _fetch.Except(_received);

    /// <summary>The caller gives up on the source: the VM is lost.</summary>
    public void GiveUp(Exception why)
    {
        Disks?.Fail(why.Message);
        Fail(why);
    }

    /// <summary>The source's <see cref="MemoryDigest.ComputeByPage"/> at the switchover, to check once every page is here (a test option).</summary>
    public ulong? ExpectedDigest { get; init; }

    /// <summary>
    /// Before the VM runs: hashes the pages it holds already, so the digest check sees them as they
    /// were at the switchover. Pages still to come are hashed as they arrive.
    /// </summary>
    public void PrepareDigest(IMigratableVm vm)
    {
        if (ExpectedDigest is null) return;
        _pageHashes = new ulong[_fetch.PageCount];
        var page = new byte[_layout.PageSize];
        foreach (var region in _layout.Regions)
            foreach (long p in vm.ResidentPages(region).Pages())
            {
                ulong gpa = region.Gpa + (ulong)p * (ulong)_layout.PageSize;
                long index = _fetch.IndexOf(gpa);
                if (_fetch.Contains(index)) continue;
                vm.ReadGuest(gpa, page);
                _pageHashes[index] = MemoryDigest.PageHash(page);
            }
    }

    /// <summary>Throws if the pages as they arrived differ from the source's (only when a digest was sent).</summary>
    public void VerifyDigest()
    {
        if (ExpectedDigest is not { } expected || _pageHashes is null) return;
        var digest = new System.IO.Hashing.XxHash3();
        for (long i = 0; i < _pageHashes.Length; i++) MemoryDigest.AppendPage(digest, _fetch.GpaOf(i), _pageHashes[i]);
        if (digest.GetCurrentHashAsUInt64() != expected)
            throw new MigrationException("guest memory differs from the source's after post-copy (memory digest mismatch)");
    }

    /// <summary>Starts serving faults: from now on a touch of a missing page is answered (before Go too, should loading the state touch guest RAM).</summary>
    public void Start()
    {
        _faultThread = new Thread(ServeFaults) { IsBackground = true, Name = "postcopy-faults" };
        _faultThread.Start();
        StartReplyThread(_faultStream!);
    }

    private void StartReplyThread(Stream faultStream)
    {
        _replyThread = new Thread(() => ReadReplies(faultStream)) { IsBackground = true, Name = "postcopy-replies" };
        _replyThread.Start();
    }

    /// <summary>Marks the instant the VM resumed: the figures count the time to the last page from it.</summary>
    public void Resumed() => Interlocked.CompareExchange(ref _resumedAt, _time.GetTimestamp(), 0);

    /// <summary>Reads one bulk stream's pushed pages until its End.</summary>
    public async Task ReceivePushAsync(SectionReader reader, CancellationToken cancellationToken)
    {
        var loader = new PageLoader(_layout, new Installer(this, byRequest: false));
        try
        {
            while (true)
            {
                var frame = await reader.ReadFrameAsync(cancellationToken);
                if (frame.Type == SectionType.End) { await reader.ReadPayloadAsync(cancellationToken); return; }
                if (frame.Type == SectionType.DiskBlocks && Disks is { } disks)
                {
                    disks.ApplyPushed((await reader.ReadPayloadAsync(cancellationToken)).Span);
                    continue;
                }
                if (!PageLoader.Handles(frame.Type)) throw new ProtocolException($"unexpected {frame.Name} during post-copy");
                await loader.LoadAsync(reader, frame, cancellationToken);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !_complete.Task.IsCompleted)
        {
            Detach($"a push stream broke: {e.Message}");
            throw;
        }
    }

    /// <summary>Every push stream ended: anything still missing would never come on this link.</summary>
    public void PushEnded()
    {
        if (RemainingPages > 0) Detach($"the source ended its push with {RemainingPages} pages not sent");
        else if (Disks is { RemainingBlocks: > 0 } disks) Detach($"the source ended its push with {disks.RemainingBlocks} disk blocks not sent");
    }

    private void ServeFaults()
    {
        try
        {
            while (_missing.WaitForFault(out ulong gpa, out int thread))
            {
                Interlocked.Increment(ref _faults);
                long page = _fetch.IndexOf(gpa);
                if (page < 0) continue; // not guest RAM: nothing of ours
                if (!_fetch.Contains(page))
                {
                    // Never held by the source, or zero there: resolved here, no round trip.
                    Interlocked.Increment(ref _zeroFaults);
                    _missing.InstallZero(gpa, 1);
                    continue;
                }
                bool request;
                lock (_lock)
                {
                    if (_received.Contains(page)) request = false;
                    else
                    {
                        if (!_pending.TryGetValue(page, out var pending))
                            _pending[page] = pending = new PendingFault(_time.GetTimestamp());
                        request = !pending.Requested;
                        pending.Requested = true;
                        pending.Waiters.Add((thread, _time.GetTimestamp()));
                    }
                }
                if (!request) { if (_received.Contains(page)) _missing.Wake(gpa); continue; }
                Interlocked.Increment(ref _requested);
                SendRequest(gpa);
            }
        }
        catch (Exception e)
        {
            Fail(new MigrationException($"the post-copy fault thread failed: {e.Message}", e));
        }
    }

    private readonly object _sendLock = new();

    /// <summary>
    /// Written on the fault thread itself: a hop to another thread would add its latency to every
    /// fault. With the link down the request waits in the pending list; Reattach sends it.
    /// </summary>
    private void SendRequest(ulong gpa) => Send(stream => FaultChannel.WriteRequest(stream, gpa, _request));

    /// <summary>A disk's I/O thread waits for this block (<see cref="Storage.PostCopyDiskBlocks"/>): asked on the fault stream as a page is.</summary>
    private void SendDiskRequest(int disk, long block) => Send(stream => FaultChannel.WriteDiskRequest(stream, disk, block, _request));

    private void Send(Action<Stream> write)
    {
        var stream = _faultStream;
        if (stream is null) return;
        try
        {
            lock (_sendLock) write(stream);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            Detach($"the fault stream broke: {e.Message}");
        }
    }

    /// <summary>Installs the source's replies, on a thread of its own with blocking reads (no pool hop between a reply and its install).</summary>
    private void ReadReplies(Stream faultStream)
    {
        var installer = new Installer(this, byRequest: true);
        int blockBytes = Disks is null ? 0 : Storage.DiskCopy.BlockBytes;
        var buffer = new byte[FaultChannel.ReplyBufferBytes(_layout.PageSize, blockBytes)];
        try
        {
            while (FaultChannel.TryReadReply(faultStream, buffer, _layout.PageSize, blockBytes, out var reply))
            {
                if (reply.Disk)
                {
                    var (disk, block) = FaultChannel.SplitDiskKey(reply.Key);
                    Disks!.Fill(disk, block, reply.Zero, buffer.AsSpan(FaultChannel.ReplyHeaderBytes, reply.Length), byRequest: true);
                    continue;
                }
                var (gpa, zero) = (reply.Key, reply.Zero);
                if (_fetch.IndexOf(gpa) < 0 || gpa % (ulong)_layout.PageSize != 0)
                    throw new ProtocolException($"the source replied with page 0x{gpa:x}, which is not a guest page");
                if (zero) installer.InstallZero(gpa, 1);
                else installer.Install(gpa, buffer.AsSpan(FaultChannel.ReplyHeaderBytes, _layout.PageSize));
            }
            if (!_complete.Task.IsCompleted && _faultStream == faultStream) Detach("the source closed the fault stream");
        }
        catch (Exception e)
        {
            if (!_complete.Task.IsCompleted && !_stopped && _faultStream == faultStream)
                Detach($"the fault stream broke: {e.Message}");
        }
    }

    /// <summary>Installs for one path (fault replies or the push), so the figures say which brought each page.</summary>
    private sealed class Installer(PostCopyReceiver receiver, bool byRequest) : IPageInstaller
    {
        public void Install(ulong gpa, ReadOnlySpan<byte> pages)
        {
            if (receiver._pageHashes is { } hashes)
                for (int at = 0; at < pages.Length; at += receiver._layout.PageSize)
                {
                    long index = receiver._fetch.IndexOf(gpa + (ulong)at);
                    if (index >= 0 && receiver._fetch.Contains(index)) hashes[index] = MemoryDigest.PageHash(pages.Slice(at, receiver._layout.PageSize));
                }
            receiver._missing.Install(gpa, pages);
            receiver.Arrived(gpa, pages.Length / receiver._layout.PageSize, byRequest);
        }

        public void InstallZero(ulong gpa, int pageCount)
        {
            receiver._missing.InstallZero(gpa, pageCount);
            receiver.Arrived(gpa, pageCount, byRequest);
        }
    }

    /// <summary>Pages are present now: count each once, settle whoever waited for them.</summary>
    private void Arrived(ulong gpa, int pageCount, bool byRequest)
    {
        long first = _fetch.IndexOf(gpa);
        if (first < 0) return;
        long now = _time.GetTimestamp();
        long arrived = 0;
        for (long page = first; page < first + pageCount; page++)
        {
            if (!_fetch.Contains(page)) continue;
            PendingFault? pending = null;
            lock (_lock)
            {
                if (!_received.Set(page)) continue;
                if (_pending.Remove(page, out pending))
                {
                    _latencyTicks.Add(now - pending.FirstFault);
                    foreach (var (thread, since) in pending.Waiters)
                        _blockedTicks[thread] = _blockedTicks.GetValueOrDefault(thread) + (now - since);
                }
            }
            arrived++;
        }
        if (arrived == 0) return;
        if (byRequest) Interlocked.Add(ref _byRequest, arrived);
        else Interlocked.Add(ref _byPush, arrived);
        if (Interlocked.Add(ref _remaining, -arrived) == 0) CheckComplete();
    }

    private void Fail(Exception e)
    {
        if (_complete.Task.IsCompleted) return;
        _complete.TrySetException(e is MigrationException ? e
            : new MigrationException($"the link to the source broke during post-copy with {RemainingPages} pages still there: {e.Message}", e));
    }

    /// <summary>The figures so far (complete once <see cref="Completion"/> did).</summary>
    public PostCopyFigures Figures(Func<int, string> threadName)
    {
        long[] latencies;
        List<KeyValuePair<string, TimeSpan>> blocked;
        lock (_lock)
        {
            latencies = [.. _latencyTicks];
            blocked = _blockedTicks.Select(kv => new KeyValuePair<string, TimeSpan>(threadName(kv.Key), Elapsed(kv.Value)))
                .GroupBy(kv => kv.Key).Select(g => new KeyValuePair<string, TimeSpan>(g.Key, g.Aggregate(TimeSpan.Zero, (s, kv) => s + kv.Value)))
                .OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        }
        Array.Sort(latencies);
        var histogram = new long[PostCopyFigures.HistogramBoundsMicroseconds.Length + 1];
        foreach (long t in latencies)
        {
            double us = Elapsed(t).TotalMicroseconds;
            int bucket = Array.FindIndex(PostCopyFigures.HistogramBoundsMicroseconds, b => us <= b);
            histogram[bucket < 0 ? histogram.Length - 1 : bucket]++;
        }
        long resumed = Interlocked.Read(ref _resumedAt), allAt = Interlocked.Read(ref _allPresentAt);
        return new PostCopyFigures(Faults, Interlocked.Read(ref _zeroFaults), Interlocked.Read(ref _requested), PagesByRequest, PagesByPush,
            Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies.Length == 0 ? TimeSpan.Zero : Elapsed(latencies[^1]),
            histogram, blocked, resumed == 0 || allAt == 0 ? TimeSpan.Zero : _time.GetElapsedTime(resumed, Math.Max(resumed, allAt)));
    }

    private TimeSpan Elapsed(long ticks) => TimeSpan.FromSeconds(ticks / (double)_time.TimestampFrequency);

    private TimeSpan Percentile(long[] sorted, double q) =>
        sorted.Length == 0 ? TimeSpan.Zero : Elapsed(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)]);

    /// <summary>Stops the fault thread (idempotent). The reply thread blocks in a read: it ends when the caller closes the fault stream.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        _stopped = true;
        _missing.Interrupt();
        // The fault thread blocks in the fault wait; Interrupt ends it (a fault thread that is the caller cannot join itself).
        if (_faultThread is { } t && t != Thread.CurrentThread) t.Join();
        return ValueTask.CompletedTask;
    }

    private int _disposed;
    private volatile bool _stopped;

    private sealed class PendingFault(long firstFault)
    {
        public long FirstFault { get; } = firstFault;
        public bool Requested { get; set; }
        public List<(int Thread, long Since)> Waiters { get; } = [];
    }
}
