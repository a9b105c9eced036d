using Ferry.Migration.Format;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Source;

/// <summary>The post-copy phase after the commit: the push, the faults, a broken link and its recovery.</summary>
public sealed partial class MigrationSource
{
    /// <summary>
    /// After the commit: push every page the destination lacks, serve its faults meanwhile, and
    /// wait for its PostCopyDone. A broken link is not the end: every page stays here, and the
    /// source reconnects (every second, or at once on `ferry migrate-recover`, also to a new
    /// address) until options.RecoveryTimeout; the destination then says what it still lacks.
    /// </summary>
    private async Task<(MigrationResult, string, long, PostCopyReport, ControlInbox)> FinishPostCopyAsync(SourceRun run, IMigratableVm vm, PostCopyServer server,
        ControlInbox inbox, IReadOnlyList<Stream> streams, Task serving, long committedAt, SwitchoverResult switchover,
        Func<string?, CancellationToken, Task<IReadOnlyList<Stream>>>? reconnectAsync, MigrationOptions options)
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
            var reconnected = await ReconnectAsync(reconnectAsync, options.RecoveryTimeout, run.Disks?.Sizes, why => phase = $"post-copy paused: {why}; reconnecting");
            if (reconnected is null) { failure = $"{failure}; the destination could not be reached again within {options.RecoveryTimeout.TotalSeconds:0} s"; break; }
            (streams, var stillMissing, var blocksMissing) = reconnected.Value;
            var bulk = streams.Take(streams.Count - 1).ToList();
            run.ReplaceStreams(bulk);
            inbox.Dispose();
            inbox = new ControlInbox(new ControlChannel(bulk[0], Clock), _timeouts);
            if (blocksMissing is not null) run.Disks!.ReplacePending(blocksMissing);
            server = new PostCopyServer(vm, stillMissing, bulk.Count, run.Disks);
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
            $"the link broke during post-copy with {server.PagesLeft} of {pagesAtSwitchover} pages{(run.Disks is null ? "" : " (and the disk blocks the destination still lacks)")} not yet confirmed there ({failure})", endedAt, report, inbox);
    }

    /// <summary>
    /// Opens the streams again with the same session and reads what the destination still lacks
    /// (pages, and with copied disks of <paramref name="diskSizes"/> their blocks);
    /// null once <paramref name="timeout"/> passed. Tries every second, or at once when asked.
    /// </summary>
    private async Task<(IReadOnlyList<Stream>, IReadOnlyList<PageSet>, ulong[][]?)?> ReconnectAsync(
        Func<string?, CancellationToken, Task<IReadOnlyList<Stream>>> reconnectAsync, TimeSpan timeout, IReadOnlyList<long>? diskSizes, Action<string> onFailure)
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
                var reader = new SectionReader(streams[0]) { StallTimeout = _timeouts.ReconnectAttempt, Clock = Clock };
                var (type, payload) = await reader.ReadAsync(attempt.Token);
                if (type != SectionType.PostCopyPages) throw new ProtocolException($"the destination answered the reconnection with {SectionNames.Of(type)}");
                var pages = PostCopyPages.Decode(payload.Span, _layout!);
                if (diskSizes is null) return (streams, pages, null);
                (type, payload) = await reader.ReadAsync(attempt.Token);
                if (type != SectionType.PostCopyDiskBlocks) throw new ProtocolException($"the destination answered the reconnection without its missing disk blocks ({SectionNames.Of(type)})");
                return (streams, pages, Storage.MissingDiskBlocks.Decode(payload.Span, diskSizes));
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
}
