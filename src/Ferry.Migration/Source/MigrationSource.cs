using System.Buffers.Binary;
using Ferry.Migration.Cold;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.PostCopy;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Storage;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Source;

/// <summary>
/// The source side of every migration. One run, the same for every mode: connect, send Header
/// and Configuration, let the mode's strategy do what it does while the VM runs (cold: nothing;
/// pre-copy and hybrid: warm-up and rounds; post-copy: note the resident pages), pause, send the
/// pages left (a stop-and-copy) or only which pages the destination lacks (post-copy), the device
/// state and End on every stream, and hand over through the commit point (SwitchoverHandshake).
/// After a post-copy commit it serves the missing pages (PostCopyServer) until the destination
/// holds them all: until then the VM lives on two hosts. Streams after the first carry a fixed
/// share of the pages (by 2 MiB chunk), so a page always travels on the same stream and a newer
/// copy can never overtake an older one. Before the commit any failure or cancel leaves the VM
/// running here, unthrottled and with its memory untouched. After it the VM never runs here on
/// its own: without the destination's Running the outcome is unknown and the VM stays paused.
/// </summary>
public sealed partial class MigrationSource(MigrationTimeouts? timeouts = null)
{
    private readonly MigrationTimeouts _timeouts = timeouts ?? MigrationTimeouts.Default;
    private TimeProvider Clock => _timeouts.Clock;
    private SwitchoverHandshake? _switchover;
    private volatile bool _postCopyRequested;

    /// <summary>Set once the source has committed: from then on nothing may resume the VM here without a person's decision.</summary>
    public bool Committed => _switchover?.Committed ?? false;

    /// <summary>
    /// Asks a hybrid (or pre-copy with a fault stream) migration to switch to post-copy after the
    /// round on the wire; false if this migration cannot (no fault stream) or already switched over.
    /// </summary>
    public bool RequestPostCopy(MigrationOptions options)
    {
        if (!options.Mode.MayPostCopy() || Committed) return false;
        _postCopyRequested = true;
        return true;
    }

    /// <summary>What the mode does its own way (see <see cref="ISourceStrategy"/>).</summary>
    internal ISourceStrategy StrategyFor(MigrationOptions options) => options.Mode switch
    {
        MigrationMode.Cold => new ColdStrategy(),
        MigrationMode.PreCopy or MigrationMode.Hybrid => new PreCopyStrategy(options, () => _postCopyRequested),
        MigrationMode.PostCopy => new PostCopyStrategy(),
        _ => throw new ArgumentException($"{options.Mode.Name()} is not a migration mode this source runs", nameof(options)),
    };

    /// <param name="connectAsync">
    /// Opens options.Streams authenticated streams, stream 0 first, and for a mode that may
    /// post-copy one more: the fault stream, last. It runs before the VM pauses, so it costs no downtime.
    /// </param>
    /// <param name="reconnectAsync">
    /// Post-copy: opens the same set of streams again, with the same session, to the original
    /// destination or to the HOST:PORT given; null, and a broken link ends the post-copy at once.
    /// </param>
    public async Task<MigrationReport> RunAsync(IMigratableVm vm, Func<CancellationToken, Task<IReadOnlyList<Stream>>> connectAsync,
        MigrationOptions options, IProgress<MigrationProgress>? progress, CancellationToken cancellationToken,
        Func<string?, CancellationToken, Task<IReadOnlyList<Stream>>>? reconnectAsync = null)
    {
        long started = Clock.GetTimestamp();
        var strategy = StrategyFor(options);
        // A VM without a disk to copy is refused before anything connects.
        var copied = options.CopyStorage ? DiskCopy.DisksOf(vm) : null;
        var all = await connectAsync(cancellationToken);
        bool mayPostCopy = options.Mode.MayPostCopy();
        if (all.Count != options.Streams + (mayPostCopy ? 1 : 0))
        {
            await QuietDispose.AllAsync(all);
            throw new ArgumentException("the connect function opened the wrong number of streams", nameof(connectAsync));
        }
        var streams = mayPostCopy ? all.Take(options.Streams).ToList() : all;
        var faultStream = mayPostCopy ? all[^1] : null;
        var channel = new ControlChannel(streams[0], Clock);
        var inbox = new ControlInbox(channel, _timeouts);
        _switchover = new SwitchoverHandshake(channel, inbox, _timeouts);
        // A mode without a dirty log (cold) has set up once it is connected.
        var run = new SourceRun(vm, options, _timeouts, progress, streams, inbox, started) { SetupTime = Clock.GetElapsedTime(started) };
        bool paused = false;
        long blocksBeforePause = 0;
        PostCopyServer? server = null;
        Task serving = Task.CompletedTask;
        try
        {
            await run.Writers[0].WriteAsync(SectionType.Header, ImageHeader.Encode(vm.Memory), cancellationToken);
            if (copied is not null)
            {
                // Before the Configuration: the destination makes its images before it builds the VM on them.
                run.Disks = DiskCopy.Start(copied);
                await run.Writers[0].WriteAsync(SectionType.DiskImages, DiskImages.Encode(run.Disks.Sizes), cancellationToken);
            }
            await run.Writers[0].WriteAsync(SectionType.Configuration, vm.Configuration, cancellationToken);
            var switchover = await strategy.BeforePauseAsync(run, cancellationToken);

            long pauseRequested = Clock.GetTimestamp();
            await vm.PauseAsync(cancellationToken);
            paused = true;
            run.PausedAt = Clock.GetTimestamp();
            run.Phases.Add(new("pause", Clock.GetElapsedTime(pauseRequested, run.PausedAt)));
            vm.SetThrottle(0);
            blocksBeforePause = run.Disks?.BlocksSent ?? 0;
            var pagesLeft = strategy.PagesLeft(run);
            long mark = Clock.GetTimestamp();
            if (switchover == SwitchoverKind.PostCopy)
            {
                server = new PostCopyServer(vm, pagesLeft, streams.Count, run.Disks);
                run.PostCopy = server;
                serving = server.ServeRequestsAsync(faultStream!);
                await run.Writers[0].WriteAsync(SectionType.PostCopyPages, PostCopyPages.Encode(pagesLeft), cancellationToken);
                if (run.Disks is { } disks)
                {
                    // Disk blocks are fetched on demand like pages: the destination learns which
                    // ones it lacks (those never sent, and those written since they were), and
                    // they follow after the resume, asked for or pushed.
                    disks.CollectWritten();
                    await run.Writers[0].WriteAsync(SectionType.PostCopyDiskBlocks, MissingDiskBlocks.Encode(disks.PendingBlocksByDisk(), disks.Sizes), cancellationToken);
                }
                run.Phases.Add(new("post-copy pages", Clock.GetElapsedTime(mark)));
            }
            else
            {
                // Stop-and-copy: the last pages within --bandwidth unless the user said the link allows more.
                run.SetSwitchoverBandwidth();
                run.SendFromGuestRam();
                await run.SendRoundAsync(pagesLeft, 0, stopAndCopy: true, cancellationToken);
                run.Phases.Add(new("last pages", Clock.GetElapsedTime(mark)));
            }
            mark = Clock.GetTimestamp();

            if (options.VerifyMemory)
            {
                var digest = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(digest, server is not null ? MemoryDigest.ComputeByPage(vm) : MemoryDigest.Compute(vm));
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
            // A destination that gave up (say, it cannot open the VM's disk) sends its reason and
            // closes: our next write fails with a broken pipe, but the reason is what counts.
            var aborted = e is IOException ? await inbox.AbortedByPeerAsync(_timeouts.Abort) : null;
            inbox.Dispose();
            // Not committed: the destination runs nothing without Go, so the VM goes on here.
            // Telling the destination lets it discard its copy instead of holding it for a decision.
            await channel.TryAbortAsync($"the source keeps the VM: {e.Message}", _timeouts.Abort);
            vm.SetThrottle(0);
            run.DirtyLog?.Dispose();
            run.Disks?.Dispose();
            Exception? resumeError = null;
            if (paused)
            {
                try { await vm.ResumeAsync(CancellationToken.None); }
                catch (Exception r) { resumeError = r; }
            }
            await QuietDispose.AllAsync(all);
            try { await serving; } catch (Exception) { /* the streams are closed; its error is not the cause */ }
            if (resumeError is not null) throw new SourceNotResumedException((aborted ?? e).Message, resumeError);
            if (aborted is not null) throw aborted;
            throw;
        }

        long committedAt = Clock.GetTimestamp();
        var result = await _switchover.CommitAsync();
        run.Phases.Add(new("go to resumed", Clock.GetElapsedTime(committedAt, result.ResumedAtTimestamp)));
        // Turning dirty logging off re-registers every memory slot, which can take tens of ms on a
        // large guest: it waits until the downtime is over.
        run.DirtyLog?.Dispose();
        // A post-copy still reads the disks for the destination until it has every block.
        if (server is null) run.Disks?.Dispose();
        var outcome = result.Confirmed ? MigrationResult.Completed : MigrationResult.OutcomeUnknown;
        string detail = result.Detail;
        long endedAt = result.ResumedAtTimestamp;
        PostCopyReport? postCopyReport = null;
        if (server is not null)
        {
            // The destination owns the VM now; its missing pages live only here until it says it has them all.
            _layout = vm.Memory;
            (outcome, detail, endedAt, postCopyReport, inbox) = await FinishPostCopyAsync(run, vm, server, inbox, all, serving, committedAt, result, reconnectAsync, options);
            run.Disks?.Dispose();
        }
        inbox.Dispose();
        await QuietDispose.AllAsync(all);
        return strategy.Describe(new MigrationReport(outcome, options.Mode,
            Clock.GetElapsedTime(started, endedAt), Clock.GetElapsedTime(run.PausedAt, result.ResumedAtTimestamp), run.SetupTime,
            run.BytesSent, run.PagesSent, run.ZeroPages, run.UntouchedPages, run.Rounds, run.SwitchoverReason, detail)
        {
            DowntimePhases = run.Phases,
            PostCopy = postCopyReport,
            Storage = run.Disks is { } d ? new StorageReport(d.BytesSent, d.BlocksSent, d.BlocksResent, d.BlocksSent - blocksBeforePause, DiskCopy.BlockBytes) { BlocksRequested = d.BlocksRequested } : null,
        });
    }
}
