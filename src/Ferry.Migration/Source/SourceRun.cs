using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.PostCopy;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Source;

/// <summary>
/// One migration at the source as it goes: the writers per stream, the dirty log, the counters and
/// the reports so far, and the one way pages go out (<see cref="SendRoundAsync"/>) that every mode
/// uses: the cold migration's single transfer, the live rounds and the stop-and-copy.
/// </summary>
internal sealed class SourceRun
{
    private readonly IMigratableVm _vm;
    private readonly TimeProvider _time;
    private readonly IProgress<MigrationProgress>? _progress;
    private readonly PageWriter[] _pages;
    private long _sendTicks;
    private long _minAckTicks = long.MaxValue;

    /// <summary>
    /// What a switchover costs beyond sending pages, as far as the rounds show it: the shortest
    /// wait from a round's last byte sent to the destination's RoundApplied.
    /// </summary>
    public TimeSpan SwitchoverOverhead => _minAckTicks == long.MaxValue ? TimeSpan.Zero : _time.GetElapsedTime(0, _minAckTicks);

    /// <summary>The stop-and-copy's rate: --switchover-bandwidth, none if the user lifted it, else the rounds' cap.</summary>
    public void SetSwitchoverBandwidth()
    {
        var limiter = _options.UnlimitedSwitchover ? null
            : _options.SwitchoverBandwidthBytesPerSecond is { } rate ? new BandwidthLimiter(rate, _time) : _limiter;
        foreach (var p in _pages) p.Limiter = limiter;
        if (_disks is not null) _disks.Limiter = limiter;
    }

    /// <summary>How post-copy pushes: the rounds' cap and compression (fault replies are never capped).</summary>
    public PageWriterOptions PushOptions => new(true, _options.Compress, _limiter);

    public int PageSize => _vm.Memory.PageSize;
    /// <summary>The post-copy server now; a new one after each reconnection, the old one's figures carried.</summary>
    public PostCopyServer? PostCopy
    {
        get => _postCopy;
        set
        {
            if (_postCopy is { } old)
            {
                _pushedBefore += old.PagesPushed;
                _requestedBefore += old.PagesServed;
                _pushedBytesBefore += old.BytesPushed;
                _requestedBytesBefore += old.BytesServed;
            }
            _postCopy = value;
        }
    }

    private readonly ControlInbox _inbox;
    private readonly MigrationTimeouts _timeouts;
    private readonly MigrationOptions _options;
    private readonly BandwidthLimiter? _limiter;

    /// <param name="startedAt">When the migration began (a timestamp of the timeouts' clock): setup time runs from it.</param>
    public SourceRun(IMigratableVm vm, MigrationOptions options, MigrationTimeouts timeouts, IProgress<MigrationProgress>? progress, IReadOnlyList<Stream> streams,
        ControlInbox inbox, long startedAt)
    {
        StartedAt = startedAt;
        var time = timeouts.Clock;
        _timeouts = timeouts;
        _inbox = inbox;
        _options = options;
        _vm = vm;
        _time = time;
        _progress = progress;
        _limiter = options.BandwidthBytesPerSecond is { } limit ? new BandwidthLimiter(limit, time) : null;
        Writers = streams.Select(NewWriter).ToArray();
        _pages = Writers.Select(w => new PageWriter(vm, w, new PageWriterOptions(false, options.Compress, _limiter))).ToArray();
    }

    public SectionWriter[] Writers { get; private set; }
    public IMigratableVm Vm => _vm;
    public TimeProvider Clock => _time;
    public long StartedAt { get; }

    /// <summary>`--copy-storage`: the disks' copy, from the Header on; null when storage is shared. Its sections share the pages' `--bandwidth`.</summary>
    public Storage.DiskCopy? Disks
    {
        get => _disks;
        set
        {
            _disks = value;
            if (value is not null) value.Limiter = _limiter;
        }
    }
    private Storage.DiskCopy? _disks;

    /// <summary>`--copy-storage`, outside the rounds: sends every pending disk block, each stream its share.</summary>
    public async Task SendDisksAsync(CancellationToken cancellationToken)
    {
        if (Disks is not { } disks) return;
        await Task.WhenAll(Writers.Select((w, k) => disks.SendPendingAsync(w, k, Writers.Length, cancellationToken)));
    }

    /// <summary>The dirty log of a live mode, from <see cref="StartDirtyLog"/> on; null in a cold migration.</summary>
    public IDirtyLog? DirtyLog { get; private set; }

    /// <summary>Starts tracking the pages the guest writes; the setup ends here.</summary>
    public IDirtyLog StartDirtyLog()
    {
        DirtyLog = _vm.StartDirtyLog();
        SetupTime = _time.GetElapsedTime(StartedAt);
        return DirtyLog;
    }

    /// <summary>The VM is paused: <paramref name="sets"/> plus every page the guest wrote since the dirty log's last collect.</summary>
    public IReadOnlyList<PageSet> WithPagesDirtiedSinceLastCollect(IReadOnlyList<PageSet> sets)
    {
        var last = DirtyLog!.Collect();
        for (int i = 0; i < sets.Count; i++) sets[i].UnionWith(last[i]);
        return sets;
    }

    private SectionWriter NewWriter(Stream stream) => new(stream) { StallTimeout = _timeouts.SourceStall, Clock = _timeouts.Clock };

    // What streams and post-copy servers before a reconnection sent: the report counts it all.
    private long _bytesBefore, _pushedBefore, _requestedBefore, _pushedBytesBefore, _requestedBytesBefore;
    private PostCopyServer? _postCopy;

    /// <summary>After a reconnection: the new streams' writers; what the old ones sent stays counted.</summary>
    public void ReplaceStreams(IReadOnlyList<Stream> streams)
    {
        _bytesBefore += Writers.Sum(w => w.BytesWritten);
        Writers = [.. streams.Select(NewWriter)];
    }

    public long PagesPushed => _pushedBefore + (_postCopy?.PagesPushed ?? 0);
    public long PagesRequested => _requestedBefore + (_postCopy?.PagesServed ?? 0);
    public long BytesPushed => _pushedBytesBefore + (_postCopy?.BytesPushed ?? 0);
    public long BytesRequested => _requestedBytesBefore + (_postCopy?.BytesServed ?? 0);
    public List<RoundReport> Rounds { get; } = [];
    public TimeSpan SetupTime { get; set; }
    public long UntouchedPages { get; set; }
    public long PausedAt { get; set; }
    public List<KeyValuePair<string, TimeSpan>> Phases { get; } = [];
    public int Throttle { get; set; }
    public string SwitchoverReason { get; set; } = "";
    // Post-copy's pushed pages go through writers of their own, on the same streams.
    public long BytesSent => _bytesBefore + Writers.Sum(w => w.BytesWritten) + BytesRequested;
    public long PagesSent => _pages.Sum(p => p.PagesSent) + PagesPushed + PagesRequested;
    public long ZeroPages => _pages.Sum(p => p.ZeroPages);

    /// <summary>Measured bytes per second on the wire while rounds were being sent.</summary>
    public double Bandwidth => _sendTicks == 0 ? 0 : BytesSent / (_sendTicks / (double)_time.TimestampFrequency);

    /// <summary>The VM is paused: long runs may go to the sockets straight from guest RAM.</summary>
    public void SendFromGuestRam()
    {
        foreach (var p in _pages) p.SendFromGuestRam = true;
    }

    public void SendZeroPages()
    {
        foreach (var p in _pages) p.SendZeroPages = true;
    }

    public async Task SendRoundAsync(IReadOnlyList<PageSet> sets, double dirtyRate, bool stopAndCopy, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        long pagesBefore = PagesSent, zerosBefore = ZeroPages, bytesBefore = BytesSent;
        long total = sets.Sum(s => s.Count()) * _vm.Memory.PageSize;
        int n = _pages.Length;
        Report(stopAndCopy ? "stop-and-copy" : Rounds.Count == 0 ? "warm-up" : $"round {Rounds.Count}", total, dirtyRate, Throttle);
        // The stop-and-copy's disk pass adds what the guest wrote until its devices drained.
        if (stopAndCopy) Disks?.CollectWritten();
        await Task.WhenAll(Enumerable.Range(0, n).Select(k => Task.Run(async () =>
        {
            var pages = _pages[k];
            long added = 0;
            // Disk blocks first, each stream its share of them (--copy-storage).
            if (Disks is { } disks) await disks.SendPendingAsync(Writers[k], k, n, cancellationToken);
            foreach (ulong gpa in StreamPartition.PagesOf(sets, k, n))
            {
                await pages.AddAsync(gpa, cancellationToken);
                if (k == 0 && ++added % 2048 == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Report(null, Math.Max(0, total - (PagesSent + ZeroPages - pagesBefore - zerosBefore) * _vm.Memory.PageSize), dirtyRate, Throttle);
                }
            }
            await pages.FlushAsync(cancellationToken);
            if (!stopAndCopy)
            {
                var end = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(end, (uint)Rounds.Count);
                await Writers[k].WriteAsync(SectionType.RoundEnd, end, cancellationToken);
            }
        }, cancellationToken)));
        // A round counts as sent once the destination applied it: the bandwidth is end to end.
        if (!stopAndCopy)
        {
            long flushed = _time.GetTimestamp();
            await _inbox.WaitAppliedAsync(Rounds.Count, cancellationToken);
            // The warm-up's wait includes the destination creating its VM: not a switchover cost.
            if (Rounds.Count > 0) _minAckTicks = Math.Min(_minAckTicks, _time.GetTimestamp() - flushed);
        }
        var duration = _time.GetElapsedTime(start);
        _sendTicks += _time.GetTimestamp() - start;
        Rounds.Add(new RoundReport(Rounds.Count, PagesSent - pagesBefore, ZeroPages - zerosBefore, BytesSent - bytesBefore, duration, dirtyRate, Throttle, stopAndCopy));
    }

    private string _phase = "starting";

    public void Report(string? phase, long remainingBytes, double dirtyRate, int throttle)
    {
        if (phase is not null) _phase = phase;
        _progress?.Report(new MigrationProgress(_phase, Rounds.Count, BytesSent, remainingBytes, dirtyRate, Bandwidth,
            ConvergencePolicy.ExpectedDowntime(remainingBytes, Bandwidth), throttle)
        {
            Disk = Disks is { } d ? new DiskProgress(d.BytesSent, d.BlocksResent, d.PendingBytes) : null,
            PostCopy = PostCopy is { } pc ? new PostCopyProgress(pc.PagesLeft, PagesRequested, PagesPushed) : null,
        });
    }
}
