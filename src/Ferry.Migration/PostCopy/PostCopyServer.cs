using System.Buffers.Binary;
using System.Collections.Concurrent;
using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// The source's side of post-copy. The VM is paused here, so its pages no longer change:
/// <list type="bullet">
/// <item>the request server answers each PageRequest on the fault stream at once (FaultChannel),
/// uncompressed and never rate-limited: the guest waits for it;</item>
/// <item>the pusher sends every page the destination lacks over the bulk streams, 2 MiB chunk
/// by chunk, the chunks the guest faulted in first, then End on every stream.</item>
/// </list>
/// A page goes once unless the guest asks for it while it is on its way: then twice, and the
/// destination installs whichever comes first. With `--copy-storage` the disks' blocks the
/// destination lacks travel the same two ways (DiskCopy): asked for on the fault stream, and
/// pushed on each bulk stream after its pages.
/// </summary>
public sealed class PostCopyServer
{
    private const int ChunkShift = 21;
    private readonly IMigratableVm _vm;
    private readonly GuestMemoryLayout _layout;
    private readonly AtomicPageMap _fetch, _sent;
    private readonly ConcurrentQueue<ulong>[] _hints;
    private readonly int _streams;
    private long _served, _pushed, _servedBytes;
    private PageWriter[] _pushers = [];
    private readonly Storage.DiskCopy? _disks;

    public PostCopyServer(IMigratableVm vm, IReadOnlyList<PageSet> fetch, int bulkStreams) : this(vm, fetch, bulkStreams, null) { }

    /// <param name="disks">`--copy-storage`: the disks' copy, its pending blocks those the destination lacks.</param>
    internal PostCopyServer(IMigratableVm vm, IReadOnlyList<PageSet> fetch, int bulkStreams, Storage.DiskCopy? disks)
    {
        _vm = vm;
        _disks = disks;
        _layout = vm.Memory;
        _fetch = AtomicPageMap.Of(_layout, fetch);
        _sent = new AtomicPageMap(_layout);
        _streams = bulkStreams;
        _hints = [.. Enumerable.Range(0, bulkStreams).Select(_ => new ConcurrentQueue<ulong>())];
        PagesToSend = _fetch.Count();
    }

    /// <summary>Pages the destination lacked at the switchover.</summary>
    public long PagesToSend { get; }
    public long PagesServed => Interlocked.Read(ref _served);
    public long PagesPushed => Interlocked.Read(ref _pushed);
    public long BytesServed => Interlocked.Read(ref _servedBytes);
    /// <summary>Bytes the push put on the bulk streams (they carried the pre-copy rounds before: those are not counted).</summary>
    public long BytesPushed => _pushers.Sum(p => p.BytesWritten) - _bytesBeforePush;
    private long _bytesBeforePush;
    public long PagesLeft => Math.Max(0, PagesToSend - _sent.Count());

    /// <summary>
    /// Answers the destination's page requests until the stream closes, on a thread of its own
    /// with blocking I/O: a reply must not wait for a pool thread that the push keeps busy.
    /// Closing the stream stops it.
    /// </summary>
    public Task ServeRequestsAsync(Stream faultStream)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                ServeRequests(faultStream);
                done.TrySetResult();
            }
            catch (Exception e) { done.TrySetException(e); }
        }) { IsBackground = true, Name = "postcopy-server" };
        thread.Start();
        return done.Task;
    }

    private void ServeRequests(Stream faultStream)
    {
        var request = new byte[FaultChannel.RequestBytes];
        int blockBytes = _disks is null ? 0 : Storage.DiskCopy.BlockBytes;
        var page = new byte[Math.Max(_layout.PageSize, blockBytes)];
        var reply = new byte[FaultChannel.ReplyBufferBytes(_layout.PageSize, blockBytes)];
        while (FaultChannel.TryReadRequest(faultStream, request, out ulong gpa, out bool disk))
        {
            if (disk)
            {
                if (_disks is null) throw new ProtocolException("the destination asked for a disk block; this migration copies no disk");
                var (d, block) = FaultChannel.SplitDiskKey(gpa);
                int length = _disks.ReadRequested(d, block, page);
                _disks.CountRequestBytes(FaultChannel.WriteDiskReply(faultStream, d, block, page.AsSpan(0, length), reply));
                continue;
            }
            long index = _fetch.IndexOf(gpa);
            if (index < 0 || gpa % (ulong)_layout.PageSize != 0) throw new ProtocolException($"the destination asked for 0x{gpa:x}, which is not a guest page");
            _vm.ReadGuest(gpa, page.AsSpan(0, _layout.PageSize));
            Interlocked.Add(ref _servedBytes, FaultChannel.WriteReply(faultStream, gpa, page.AsSpan(0, _layout.PageSize), reply));
            _sent.Set(index);
            Interlocked.Increment(ref _served);
            // Pages near a fault are likely next: the pusher moves to this chunk.
            _hints[StreamPartition.StreamOf(gpa, _streams)].Enqueue(gpa);
        }
    }

    /// <summary>Pushes every page not yet sent over the bulk streams, then End on each.</summary>
    public async Task PushAsync(IReadOnlyList<SectionWriter> writers, PageWriterOptions options, CancellationToken cancellationToken)
    {
        _bytesBeforePush = writers.Sum(w => w.BytesWritten);
        _pushers = [.. writers.Select(w => new PageWriter(_vm, w, options with { SendZeroPages = true }) { SendFromGuestRam = !options.Compress })];
        await Task.WhenAll(Enumerable.Range(0, writers.Count).Select(k => Task.Run(() => PushStreamAsync(k, writers[k], cancellationToken), cancellationToken)));
    }

    private async Task PushStreamAsync(int k, SectionWriter writer, CancellationToken cancellationToken)
    {
        var pages = _pushers[k];
        var done = new HashSet<ulong>();
        foreach (var region in _layout.Regions)
        {
            for (ulong chunk = region.Gpa >> ChunkShift; chunk << ChunkShift < region.EndGpa; chunk++)
            {
                if (_streams > 1 && (int)(chunk % (ulong)_streams) != k) continue;
                while (_hints[k].TryDequeue(out ulong near))
                    if (done.Add(near >> ChunkShift)) await PushChunkAsync(pages, near, cancellationToken);
                if (done.Add(chunk)) await PushChunkAsync(pages, chunk << ChunkShift, cancellationToken);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        await pages.FlushAsync(cancellationToken);
        if (_disks is not null) await _disks.SendPendingAsync(writer, k, _streams, cancellationToken, everyBlock: true);
        await writer.WriteEndAsync(cancellationToken);
    }

    /// <summary>The chunk's pages from <paramref name="from"/> to its end, then those before it.</summary>
    private async Task PushChunkAsync(PageWriter pages, ulong from, CancellationToken cancellationToken)
    {
        ulong chunkStart = from & ~((1UL << ChunkShift) - 1), chunkEnd = chunkStart + (1UL << ChunkShift);
        from &= ~(ulong)(_layout.PageSize - 1);
        await PushRangeAsync(pages, from, chunkEnd, cancellationToken);
        await PushRangeAsync(pages, chunkStart, from, cancellationToken);
    }

    private async Task PushRangeAsync(PageWriter pages, ulong start, ulong end, CancellationToken cancellationToken)
    {
        for (ulong gpa = start; gpa < end; gpa += (ulong)_layout.PageSize)
        {
            long page = _fetch.IndexOf(gpa);
            if (page < 0 || !_fetch.Contains(page) || !_sent.Set(page)) continue;
            await pages.AddAsync(gpa, cancellationToken);
            Interlocked.Increment(ref _pushed);
        }
    }
}
