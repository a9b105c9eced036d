using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.Reporting;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.PreCopy;

/// <summary>
/// Live pre-copy, source side. With the VM running: start the dirty log, send every resident
/// page (warm-up), then round after round the pages dirtied meanwhile, until ConvergencePolicy
/// says switch over. Then pause, send the last dirty pages and the device state, and hand over
/// through the commit point (SwitchoverHandshake). Streams after the first carry a fixed share
/// of the pages (by 2 MiB chunk), so a page always travels on the same stream and a newer copy
/// can never overtake an older one. Before the commit any failure or cancel leaves the VM
/// running here, unthrottled and with its memory untouched.
/// </summary>
public sealed class PreCopySource(TimeProvider time)
{
    private SwitchoverHandshake? _switchover;

    public bool Committed => _switchover?.Committed ?? false;

    /// <param name="connectAsync">Opens options.Streams authenticated streams, stream 0 first.</param>
    public async Task<MigrationReport> RunAsync(IMigratableVm vm, Func<CancellationToken, Task<IReadOnlyList<Stream>>> connectAsync,
        PreCopyOptions options, IProgress<MigrationProgress>? progress, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        var streams = await connectAsync(cancellationToken);
        var channel = new ControlChannel(streams[0]);
        _switchover = new SwitchoverHandshake(channel, time);
        using var stopFeedback = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var feedback = new DestinationFeedback(channel, stopFeedback.Token);
        var run = new Run(vm, options, time, progress, streams, feedback);
        bool paused = false;
        IDirtyLog? dirtyLog = null;
        try
        {
            var layout = vm.Memory;
            await run.Writers[0].WriteAsync(SectionType.Header, ImageHeader.Encode(layout), cancellationToken);
            await run.Writers[0].WriteAsync(SectionType.Configuration, vm.Configuration, cancellationToken);
            dirtyLog = vm.StartDirtyLog();
            run.SetupTime = time.GetElapsedTime(started);

            // Warm-up: every page the guest ever touched. The destination's RAM is fresh, so zero pages need not travel.
            var resident = layout.Regions.Select(vm.ResidentPages).ToList();
            run.UntouchedPages = resident.Sum(s => s.PageCount - s.Count());
            long lastCollect = time.GetTimestamp();
            await run.SendRoundAsync(resident, dirtyRate: 0, stopAndCopy: false, cancellationToken);
            run.SendZeroPages(); // from now on a page that became zero must overwrite the old copy

            var policy = new ConvergencePolicy(options);
            IReadOnlyList<PageSet> dirty;
            double dirtyRate;
            while (true)
            {
                dirty = dirtyLog.Collect();
                long now = time.GetTimestamp();
                long dirtyPages = dirty.Sum(s => s.Count());
                dirtyRate = dirtyPages / Math.Max(time.GetElapsedTime(lastCollect, now).TotalSeconds, 1e-6);
                lastCollect = now;
                long dirtyBytes = dirtyPages * layout.PageSize;
                var decision = policy.Decide(run.Rounds.Count, dirtyBytes, run.Bandwidth, time.GetElapsedTime(started), run.SwitchoverOverhead,
                    dirtyRate * layout.PageSize);
                run.Report("deciding", dirtyBytes, dirtyRate, policy.ThrottlePercent);
                if (decision.Step == ConvergencePolicy.Step.Switchover) { run.SwitchoverReason = decision.Reason; break; }
                if (decision.Step == ConvergencePolicy.Step.GiveUp) throw new MigrationException(decision.Reason);
                if (decision.Step == ConvergencePolicy.Step.Throttle) vm.SetThrottle(policy.ThrottlePercent);
                run.Throttle = policy.ThrottlePercent;
                await run.SendRoundAsync(dirty, dirtyRate, stopAndCopy: false, cancellationToken);
            }

            // Stop-and-copy: what was dirty at the decision plus what the guest wrote until it stopped.
            long pauseRequested = time.GetTimestamp();
            await vm.PauseAsync(cancellationToken);
            paused = true;
            run.PausedAt = time.GetTimestamp();
            run.Phases.Add(new("pause", time.GetElapsedTime(pauseRequested, run.PausedAt)));
            vm.SetThrottle(0);
            var last = dirtyLog.Collect();
            for (int i = 0; i < dirty.Count; i++) dirty[i].UnionWith(last[i]);
            // The VM is paused: the last pages go as fast as the link allows (the limit protects
            // other traffic from a long migration, not from a few milliseconds of downtime).
            run.LiftBandwidthLimit();
            run.SendFromGuestRam();
            await run.SendRoundAsync(dirty, dirtyRate, stopAndCopy: true, cancellationToken);
            long mark = time.GetTimestamp();
            run.Phases.Add(new("last pages", time.GetElapsedTime(run.PausedAt, mark)));

            if (options.VerifyMemory)
            {
                var digest = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(digest, MemoryDigest.Compute(vm));
                await run.Writers[0].WriteAsync(SectionType.MemoryDigest, digest, cancellationToken);
            }
            await run.Writers[0].WriteAsync(SectionType.DeviceState, vm.SaveState(), cancellationToken);
            await Task.WhenAll(run.Writers.Select(w => w.WriteEndAsync(cancellationToken).AsTask()));
            run.Phases.Add(new("device state", time.GetElapsedTime(mark)));
            mark = time.GetTimestamp();
            run.Report("waiting for the destination", 0, 0, 0);
            await feedback.Ready.WaitAsync(SwitchoverHandshake.ReadyTimeout, cancellationToken);
            run.Phases.Add(new("destination ready", time.GetElapsedTime(mark)));
        }
        catch (Exception e)
        {
            stopFeedback.Cancel();
            // Not committed: the destination runs nothing without Go, so the VM goes on here.
            try { await channel.AbortAsync($"the source keeps the VM: {e.Message}", ControlChannel.AbortTimeout()); } catch (Exception) { }
            vm.SetThrottle(0);
            dirtyLog?.Dispose();
            if (paused) await vm.ResumeAsync(CancellationToken.None);
            await QuietDispose.AllAsync(streams);
            throw;
        }

        long committedAt = time.GetTimestamp();
        var result = await _switchover.CommitAsync();
        run.Phases.Add(new("go to resumed", time.GetElapsedTime(committedAt, result.ResumedAtTimestamp)));
        // Turning dirty logging off re-registers every memory slot, which can take tens of ms on a
        // large guest: it waits until the downtime is over.
        dirtyLog.Dispose();
        await QuietDispose.AllAsync(streams);
        return new MigrationReport(result.Confirmed ? MigrationResult.Completed : MigrationResult.OutcomeUnknown, MigrationMode.PreCopy,
            time.GetElapsedTime(started, result.ResumedAtTimestamp), time.GetElapsedTime(run.PausedAt, result.ResumedAtTimestamp), run.SetupTime,
            run.BytesSent, run.PagesSent, run.ZeroPages, run.UntouchedPages, run.Rounds, run.SwitchoverReason, result.Detail)
        { DowntimePhases = run.Phases };
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

        public void LiftBandwidthLimit()
        {
            foreach (var p in _pages) p.Limiter = null;
        }

        private readonly DestinationFeedback _feedback;

        public Run(IMigratableVm vm, PreCopyOptions options, TimeProvider time, IProgress<MigrationProgress>? progress, IReadOnlyList<Stream> streams,
            DestinationFeedback feedback)
        {
            _feedback = feedback;
            _vm = vm;
            _time = time;
            _progress = progress;
            var limiter = options.BandwidthBytesPerSecond is { } limit ? new BandwidthLimiter(limit, time) : null;
            Writers = streams.Select(s => new SectionWriter(s) { StallTimeout = SectionWriter.SourceStallTimeout }).ToArray();
            _pages = Writers.Select(w => new PageWriter(vm, w, new PageWriterOptions(false, options.Compress, limiter))).ToArray();
        }

        public SectionWriter[] Writers { get; }
        public List<RoundReport> Rounds { get; } = [];
        public TimeSpan SetupTime { get; set; }
        public long UntouchedPages { get; set; }
        public long PausedAt { get; set; }
        public List<KeyValuePair<string, TimeSpan>> Phases { get; } = [];
        public int Throttle { get; set; }
        public string SwitchoverReason { get; set; } = "";
        public long BytesSent => Writers.Sum(w => w.BytesWritten);
        public long PagesSent => _pages.Sum(p => p.PagesSent);
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
                await _feedback.WaitAppliedAsync(Rounds.Count, cancellationToken);
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
                ConvergencePolicy.ExpectedDowntime(remainingBytes, Bandwidth), throttle));
        }
    }
}
