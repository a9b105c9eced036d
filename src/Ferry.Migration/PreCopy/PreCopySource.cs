using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PreCopy;

/// <summary>
/// Live migration, source side: pre-copy, post-copy and hybrid. With the VM running: start the
/// dirty log, send every resident page (warm-up), then round after round the pages dirtied
/// meanwhile, until ConvergencePolicy says switch over. Then pause, send the last dirty pages and
/// the device state, and hand over through the commit point (SwitchoverHandshake). Post-copy
/// (at once, or hybrid when the rounds cannot meet the limit) pauses, sends only which pages the
/// destination still lacks and the device state, commits, and then serves those pages
/// (PostCopyServer) until the destination holds them all: until then the VM lives on two hosts. Streams after the first carry a fixed share
/// of the pages (by 2 MiB chunk), so a page always travels on the same stream and a newer copy
/// can never overtake an older one. Before the commit any failure or cancel leaves the VM
/// running here, unthrottled and with its memory untouched.
/// </summary>
public sealed class PreCopySource(MigrationTimeouts? timeouts = null)
{
    private readonly MigrationTimeouts _timeouts = timeouts ?? MigrationTimeouts.Default;
    private TimeProvider Clock => _timeouts.Clock;
    private SwitchoverHandshake? _switchover;
    private volatile bool _postCopyRequested;

    public bool Committed => _switchover?.Committed ?? false;

    /// <summary>
    /// Asks a hybrid (or pre-copy with a fault stream) migration to switch to post-copy after the
    /// round on the wire; false if this migration cannot (no fault stream) or already switched over.
    /// </summary>
    public bool RequestPostCopy(PreCopyOptions options)
    {
        if (!options.Mode.MayPostCopy() || Committed) return false;
        _postCopyRequested = true;
        return true;
    }

    /// <param name="connectAsync">
    /// Opens options.Streams authenticated streams, stream 0 first, and for a mode that may
    /// post-copy one more: the fault stream, last.
    /// </param>
    /// <param name="reconnectAsync">
    /// Post-copy: opens the same set of streams again, with the same session, to the original
    /// destination or to the HOST:PORT given; null, and a broken link ends the post-copy at once.
    /// </param>
    public async Task<MigrationReport> RunAsync(IMigratableVm vm, Func<CancellationToken, Task<IReadOnlyList<Stream>>> connectAsync,
        PreCopyOptions options, IProgress<MigrationProgress>? progress, CancellationToken cancellationToken,
        Func<string?, CancellationToken, Task<IReadOnlyList<Stream>>>? reconnectAsync = null)
    {
        long started = Clock.GetTimestamp();
        var all = await connectAsync(cancellationToken);
        bool mayPostCopy = options.Mode.MayPostCopy();
        if (all.Count != options.Streams + (mayPostCopy ? 1 : 0)) throw new ArgumentException("the connect function opened the wrong number of streams", nameof(connectAsync));
        var streams = mayPostCopy ? all.Take(options.Streams).ToList() : all;
        var faultStream = mayPostCopy ? all[^1] : null;
        var channel = new ControlChannel(streams[0], Clock);
        var inbox = new ControlInbox(channel, _timeouts);
        _switchover = new SwitchoverHandshake(channel, inbox, _timeouts);
        var run = new Run(vm, options, _timeouts, progress, streams, inbox);
        bool paused = false;
        IDirtyLog? dirtyLog = null;
        PostCopyServer? server = null;
        Task serving = Task.CompletedTask;
        try
        {
            var layout = vm.Memory;
            await run.Writers[0].WriteAsync(SectionType.Header, ImageHeader.Encode(layout), cancellationToken);
            await run.Writers[0].WriteAsync(SectionType.Configuration, vm.Configuration, cancellationToken);
            IReadOnlyList<PageSet> dirty;
            bool postCopy = options.Mode == MigrationMode.PostCopy;
            if (postCopy)
            {
                // Which pages exist is read while the guest still runs (mincore of a large guest
                // takes milliseconds); the dirty log catches any page it writes from then on.
                dirtyLog = vm.StartDirtyLog();
                run.SetupTime = Clock.GetElapsedTime(started);
                run.SwitchoverReason = "post-copy: switched over at once";
                dirty = layout.Regions.Select(vm.ResidentPages).ToList();
                run.UntouchedPages = dirty.Sum(s => s.PageCount - s.Count());
            }
            else
            {
                dirtyLog = vm.StartDirtyLog();
                run.SetupTime = Clock.GetElapsedTime(started);
                // Warm-up: every page the guest ever touched. The destination's RAM is fresh, so zero pages need not travel.
                var resident = layout.Regions.Select(vm.ResidentPages).ToList();
                run.UntouchedPages = resident.Sum(s => s.PageCount - s.Count());
                long lastCollect = Clock.GetTimestamp();
                await run.SendRoundAsync(resident, dirtyRate: 0, stopAndCopy: false, cancellationToken);
                run.SendZeroPages(); // from now on a page that became zero must overwrite the old copy

                var policy = new ConvergencePolicy(options);
                double dirtyRate;
                while (true)
                {
                    dirty = dirtyLog.Collect();
                    long now = Clock.GetTimestamp();
                    long dirtyPages = dirty.Sum(s => s.Count());
                    dirtyRate = dirtyPages / Math.Max(Clock.GetElapsedTime(lastCollect, now).TotalSeconds, 1e-6);
                    lastCollect = now;
                    long dirtyBytes = dirtyPages * layout.PageSize;
                    var decision = policy.Decide(run.Rounds.Count, dirtyBytes, run.Bandwidth, Clock.GetElapsedTime(started), run.SwitchoverOverhead,
                        dirtyRate * layout.PageSize);
                    if (_postCopyRequested && decision.Step != ConvergencePolicy.Step.Switchover)
                        decision = new ConvergencePolicy.Decision(ConvergencePolicy.Step.PostCopy, $"switched to post-copy on request (ferry migrate-postcopy) with {dirtyBytes / 1048576.0:0.##} MiB dirty");
                    run.Report("deciding", dirtyBytes, dirtyRate, policy.ThrottlePercent);
                    if (decision.Step == ConvergencePolicy.Step.Switchover) { run.SwitchoverReason = decision.Reason; break; }
                    if (decision.Step == ConvergencePolicy.Step.PostCopy && mayPostCopy) { run.SwitchoverReason = decision.Reason; postCopy = true; break; }
                    if (decision.Step is ConvergencePolicy.Step.GiveUp or ConvergencePolicy.Step.PostCopy) throw new MigrationException(decision.Reason);
                    if (decision.Step == ConvergencePolicy.Step.Throttle) vm.SetThrottle(policy.ThrottlePercent);
                    run.Throttle = policy.ThrottlePercent;
                    await run.SendRoundAsync(dirty, dirtyRate, stopAndCopy: false, cancellationToken);
                }
            }

            long pauseRequested = Clock.GetTimestamp();
            await vm.PauseAsync(cancellationToken);
            paused = true;
            run.PausedAt = Clock.GetTimestamp();
            run.Phases.Add(new("pause", Clock.GetElapsedTime(pauseRequested, run.PausedAt)));
            vm.SetThrottle(0);
            if (dirtyLog is not null)
            {
                var last = dirtyLog.Collect();
                for (int i = 0; i < dirty.Count; i++) dirty[i].UnionWith(last[i]);
            }
            long mark = Clock.GetTimestamp();
            if (postCopy)
            {
                // What the destination lacks: every page the guest had (post-copy), or what was
                // dirty at the decision (hybrid), plus what it wrote until it stopped.
                var fetch = dirty;
                server = new PostCopyServer(vm, fetch, streams.Count);
                run.PostCopy = server;
                serving = server.ServeRequestsAsync(faultStream!);
                await run.Writers[0].WriteAsync(SectionType.PostCopyPages, PostCopyPages.Encode(fetch), cancellationToken);
                run.Phases.Add(new("post-copy pages", Clock.GetElapsedTime(mark)));
            }
            else
            {
                // Stop-and-copy: the last pages within --bandwidth unless the user said the link allows more.
                run.SetSwitchoverBandwidth();
                run.SendFromGuestRam();
                await run.SendRoundAsync(dirty, 0, stopAndCopy: true, cancellationToken);
                run.Phases.Add(new("last pages", Clock.GetElapsedTime(mark)));
            }
            mark = Clock.GetTimestamp();

            if (options.VerifyMemory)
            {
                var digest = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(digest, postCopy ? MemoryDigest.ComputeByPage(vm) : MemoryDigest.Compute(vm));
                await run.Writers[0].WriteAsync(SectionType.MemoryDigest, digest, cancellationToken);
            }
            await run.Writers[0].WriteAsync(SectionType.DeviceState, vm.SaveState(), cancellationToken);
            await Task.WhenAll(run.Writers.Select(w => w.WriteEndAsync(cancellationToken).AsTask()));
            run.Phases.Add(new("device state", Clock.GetElapsedTime(mark)));
            mark = Clock.GetTimestamp();
            run.Report("waiting for the destination", 0, 0, 0);
            await _switchover.AwaitReadyAsync(cancellationToken);
            run.Phases.Add(new("destination ready", Clock.GetElapsedTime(mark)));
        }
        catch (Exception e)
        {
            inbox.Dispose();
            // Not committed: the destination runs nothing without Go, so the VM goes on here.
            await channel.TryAbortAsync($"the source keeps the VM: {e.Message}", _timeouts.Abort);
            vm.SetThrottle(0);
            dirtyLog?.Dispose();
            if (paused) await vm.ResumeAsync(CancellationToken.None);
            await QuietDispose.AllAsync(all);
            try { await serving; } catch (Exception) { /* the streams are closed; its error is not the cause */ }
            throw;
        }

        long committedAt = Clock.GetTimestamp();
        var result = await _switchover.CommitAsync();
        run.Phases.Add(new("go to resumed", Clock.GetElapsedTime(committedAt, result.ResumedAtTimestamp)));
        // Turning dirty logging off re-registers every memory slot, which can take tens of ms on a
        // large guest: it waits until the downtime is over.
        dirtyLog?.Dispose();
        var outcome = result.Confirmed ? MigrationResult.Completed : MigrationResult.OutcomeUnknown;
        string detail = result.Detail;
        long endedAt = result.ResumedAtTimestamp;
        PostCopyReport? postCopyReport = null;
        if (server is not null)
        {
            // The destination owns the VM now; its missing pages live only here until it says it has them all.
            _layout = vm.Memory;
            (outcome, detail, endedAt, postCopyReport, inbox) = await FinishPostCopyAsync(run, vm, server, inbox, all, serving, committedAt, result, reconnectAsync, options);
        }
        inbox.Dispose();
        await QuietDispose.AllAsync(all);
        return new MigrationReport(outcome, options.Mode,
            Clock.GetElapsedTime(started, endedAt), Clock.GetElapsedTime(run.PausedAt, result.ResumedAtTimestamp), run.SetupTime,
            run.BytesSent, run.PagesSent, run.ZeroPages, run.UntouchedPages, run.Rounds, run.SwitchoverReason, detail)
        { DowntimePhases = run.Phases, PostCopy = postCopyReport };
    }

    /// <summary>
    /// After the commit: push every page the destination lacks, serve its faults meanwhile, and
    /// wait for its PostCopyDone. A broken link is not the end: every page stays here, and the
    /// source reconnects (every second, or at once on `ferry migrate-recover`, also to a new
    /// address) until options.RecoveryTimeout; the destination then says what it still lacks.
    /// </summary>
    private async Task<(MigrationResult, string, long, PostCopyReport, ControlInbox)> FinishPostCopyAsync(Run run, IMigratableVm vm, PostCopyServer server,
        ControlInbox inbox, IReadOnlyList<Stream> streams, Task serving, long committedAt, SwitchoverResult switchover,
        Func<string?, CancellationToken, Task<IReadOnlyList<Stream>>>? reconnectAsync, PreCopyOptions options)
    {
        long pagesAtSwitchover = server.PagesToSend;
        string phase = "post-copy";
        using var reporting = new CancellationTokenSource();
        var reporter = Task.Run(async () =>
        {
            while (!reporting.IsCancellationRequested)
            {
                run.Report(phase, (run.PostCopy?.PagesLeft ?? 0) * run.PageSize, 0, 0);
                try { await Task.Delay(TimeSpan.FromMilliseconds(100), Clock, reporting.Token); } catch (OperationCanceledException) { }
            }
        });
        PostCopyFigures? figures = null;
        string? failure = null;
        int recoveries = 0;
        while (true)
        {
            var pushing = server.PushAsync(run.Writers, run.PushOptions, CancellationToken.None);
            try
            {
                var done = await inbox.WaitAsync(MessageType.PostCopyDone, Timeout.InfiniteTimeSpan, CancellationToken.None);
                figures = PostCopyFigures.Decode(done);
                try { await pushing; } catch (Exception) { /* every page is there: a push cut short by the close does not matter */ }
                break;
            }
            catch (Exception e) when (e is MigrationException or IOException or ObjectDisposedException)
            {
                failure = e.Message;
            }
            // The link broke. The request server blocks in a read: closing its stream ends it.
            await QuietDispose.AllAsync(streams);
            try { await serving; } catch (Exception) { /* the link is gone */ }
            try { await pushing; } catch (Exception) { /* the link is gone */ }
            if (reconnectAsync is null) break;
            phase = $"post-copy paused: the link broke ({failure}); reconnecting";
            var reconnected = await ReconnectAsync(reconnectAsync, options.RecoveryTimeout, why => phase = $"post-copy paused: {why}; reconnecting");
            if (reconnected is null) { failure = $"{failure}; the destination could not be reached again within {options.RecoveryTimeout.TotalSeconds:0} s"; break; }
            (streams, var stillMissing) = reconnected.Value;
            var bulk = streams.Take(streams.Count - 1).ToList();
            run.ReplaceStreams(bulk);
            inbox.Dispose();
            inbox = new ControlInbox(new ControlChannel(bulk[0], Clock), _timeouts);
            server = new PostCopyServer(vm, stillMissing, bulk.Count);
            run.PostCopy = server;
            serving = server.ServeRequestsAsync(streams[^1]);
            recoveries++;
            phase = $"post-copy (recovered {recoveries}×)";
            failure = null;
        }
        long endedAt = Clock.GetTimestamp();
        reporting.Cancel();
        await reporter;
        await QuietDispose.AllAsync(streams);
        try { await serving; } catch (Exception) { /* stopped on purpose, or the link is gone */ }
        var report = new PostCopyReport(pagesAtSwitchover, run.PagesPushed, run.PagesRequested, run.BytesPushed, run.BytesRequested,
            Clock.GetElapsedTime(committedAt, endedAt), figures) { Recoveries = recoveries };
        if (figures is not null)
            return (MigrationResult.Completed, switchover.Confirmed ? switchover.Detail : "the destination runs the VM and holds every page", endedAt, report, inbox);
        return (MigrationResult.PostCopyInterrupted,
            $"the link broke during post-copy with {server.PagesLeft} of {pagesAtSwitchover} pages not yet confirmed there ({failure})", endedAt, report, inbox);
    }

    /// <summary>
    /// Opens the streams again with the same session and reads what the destination still lacks;
    /// null once <paramref name="timeout"/> passed. Tries every second, or at once when asked.
    /// </summary>
    private async Task<(IReadOnlyList<Stream>, IReadOnlyList<PageSet>)?> ReconnectAsync(
        Func<string?, CancellationToken, Task<IReadOnlyList<Stream>>> reconnectAsync, TimeSpan timeout, Action<string> onFailure)
    {
        long deadline = Clock.GetTimestamp() + (long)(timeout.TotalSeconds * Clock.TimestampFrequency);
        while (Clock.GetTimestamp() < deadline)
        {
            string? to;
            lock (_recoverNow) to = _recoverTo;
            IReadOnlyList<Stream>? streams = null;
            try
            {
                using var attempt = _timeouts.After(_timeouts.ReconnectAttempt);
                streams = await reconnectAsync(to, attempt.Token);
                var (type, payload) = await new SectionReader(streams[0]) { StallTimeout = _timeouts.ReconnectAttempt, Clock = Clock }.ReadAsync(attempt.Token);
                if (type != SectionType.PostCopyPages) throw new ProtocolException($"the destination answered the reconnection with {SectionNames.Of(type)}");
                return (streams, PostCopyPages.Decode(payload.Span, _layout!));
            }
            catch (Exception e) when (e is MigrationException or IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                if (streams is not null) await QuietDispose.AllAsync(streams);
                onFailure(e is OperationCanceledException ? "the reconnection timed out" : e.Message);
            }
            // Wait a second, or less if someone asks for an attempt now.
            using var pause = _timeouts.After(_timeouts.ReconnectInterval);
            try { await _recoverNow.WaitAsync(pause.Token); } catch (OperationCanceledException) { }
        }
        return null;
    }

    private readonly SemaphoreSlim _recoverNow = new(0, 1);
    private string? _recoverTo;
    private GuestMemoryLayout? _layout;

    /// <summary>
    /// `ferry migrate-recover`: a post-copy whose link broke tries to reconnect now, to
    /// <paramref name="to"/> (HOST:PORT) if given; false when no post-copy is waiting to recover.
    /// </summary>
    public bool RequestRecovery(string? to)
    {
        if (!Committed || _layout is null) return false;
        lock (_recoverNow) _recoverTo = to ?? _recoverTo;
        try { _recoverNow.Release(); } catch (SemaphoreFullException) { }
        return true;
    }

    /// <summary>The state of one migration's rounds: writers per stream, counters, the reports so far.</summary>
    private sealed class Run
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
        private readonly PreCopyOptions _options;
        private readonly BandwidthLimiter? _limiter;

        public Run(IMigratableVm vm, PreCopyOptions options, MigrationTimeouts timeouts, IProgress<MigrationProgress>? progress, IReadOnlyList<Stream> streams,
            ControlInbox inbox)
        {
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
            await Task.WhenAll(Enumerable.Range(0, n).Select(k => Task.Run(async () =>
            {
                var pages = _pages[k];
                long added = 0;
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
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(end, (uint)Rounds.Count);
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
                PostCopy = PostCopy is { } pc ? new PostCopyProgress(pc.PagesLeft, PagesRequested, PagesPushed) : null,
            });
        }
    }
}
