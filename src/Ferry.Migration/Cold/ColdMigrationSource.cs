using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.Reporting;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Cold;

/// <summary>
/// Cold migration, source side: connect, pause, send the whole image, and only when the
/// destination says it holds everything (Ready), commit and tell it to run the VM (Go). Stream 0
/// carries Header, Configuration and DeviceState; guest RAM is split over every stream by
/// StreamPartition, so the destination fills it on several cores. Before the commit any failure
/// or cancel resumes the VM here, unchanged. After it the VM never runs here on its own: without
/// the destination's Running the outcome is unknown and the VM stays paused.
/// </summary>
public sealed class ColdMigrationSource(MigrationTimeouts? timeouts = null)
{
    private readonly MigrationTimeouts _timeouts = timeouts ?? MigrationTimeouts.Default;
    private TimeProvider Clock => _timeouts.Clock;
    private SwitchoverHandshake? _switchover;

    /// <summary>Set once the source has committed: from then on nothing may resume the VM here without a person's decision.</summary>
    public bool Committed => _switchover?.Committed ?? false;

    /// <summary>Migrates over one connection that this call authenticates (tests, simple callers).</summary>
    public Task<MigrationReport> RunAsync(IMigratableVm vm, Stream stream, byte[] token, IProgress<ImageProgress>? progress, CancellationToken cancellationToken) =>
        RunAsync(vm, async ct =>
        {
            await Handshake.AuthenticateAsSourceAsync(new ControlChannel(stream, _timeouts.Clock), token, new StreamHello(MigrationMode.Cold, 0, 1, Guid.NewGuid()), ct, _timeouts);
            return (IReadOnlyList<Stream>)[stream];
        }, progress, cancellationToken);

    /// <param name="connectAsync">Opens and authenticates the streams (stream 0 first); it runs before the VM pauses, so it costs no downtime.</param>
    public async Task<MigrationReport> RunAsync(IMigratableVm vm, Func<CancellationToken, Task<IReadOnlyList<Stream>>> connectAsync,
        IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        long started = Clock.GetTimestamp();
        var streams = await connectAsync(cancellationToken);
        var setup = Clock.GetElapsedTime(started);
        var channel = new ControlChannel(streams[0], Clock);
        using var inbox = new ControlInbox(channel, _timeouts);
        _switchover = new SwitchoverHandshake(channel, inbox, _timeouts);
        bool paused = false;
        long pausedAt = 0, untouched = 0;
        PageWriter[] pages = [];
        SectionWriter[] writers = [.. streams.Select(s => new SectionWriter(s) { StallTimeout = _timeouts.SourceStall, Clock = Clock })];
        try
        {
            await vm.PauseAsync(cancellationToken);
            paused = true;
            pausedAt = Clock.GetTimestamp();
            var layout = vm.Memory;
            await writers[0].WriteAsync(SectionType.Header, ImageHeader.Encode(layout), cancellationToken);
            await writers[0].WriteAsync(SectionType.Configuration, vm.Configuration, cancellationToken);
            await writers[0].WriteAsync(SectionType.DeviceState, vm.SaveState(), cancellationToken);

            var resident = layout.Regions.Select(vm.ResidentPages).ToList();
            untouched = resident.Sum(s => s.PageCount - s.Count());
            long total = resident.Sum(s => s.Count()) * layout.PageSize;
            // Paused throughout: long runs go to the sockets straight from guest RAM.
            pages = [.. writers.Select(w => new PageWriter(vm, w, new PageWriterOptions()) { SendFromGuestRam = true })];
            int n = streams.Count;
            await Task.WhenAll(Enumerable.Range(0, n).Select(k => Task.Run(async () =>
            {
                long added = 0;
                foreach (ulong gpa in StreamPartition.PagesOf(resident, k, n))
                {
                    await pages[k].AddAsync(gpa, cancellationToken);
                    if (k == 0 && ++added % 2048 == 0)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        long done = pages.Sum(p => p.PagesSent + p.ZeroPages) * layout.PageSize;
                        progress?.Report(new ImageProgress(done, total, writers.Sum(w => w.BytesWritten)));
                    }
                }
                await pages[k].FlushAsync(cancellationToken);
                await writers[k].WriteEndAsync(cancellationToken);
            }, cancellationToken)));
            progress?.Report(new ImageProgress(total, total, writers.Sum(w => w.BytesWritten)));
            await _switchover.AwaitReadyAsync(cancellationToken);
        }
        catch (Exception e)
        {
            // Not committed: the destination runs nothing without Go, so the VM goes on here.
            // Telling the destination lets it discard its copy instead of holding it for a decision.
            await channel.TryAbortAsync($"the source resumed the VM: {e.Message}", _timeouts.Abort);
            if (paused) await vm.ResumeAsync(CancellationToken.None);
            await QuietDispose.AllAsync(streams);
            throw;
        }

        var result = await _switchover.CommitAsync();
        await QuietDispose.AllAsync(streams);
        return new MigrationReport(result.Confirmed ? MigrationResult.Completed : MigrationResult.OutcomeUnknown, MigrationMode.Cold,
            Clock.GetElapsedTime(started, result.ResumedAtTimestamp), Clock.GetElapsedTime(pausedAt, result.ResumedAtTimestamp), setup,
            writers.Sum(w => w.BytesWritten), pages.Sum(p => p.PagesSent), pages.Sum(p => p.ZeroPages), untouched, [],
            "cold migration: the VM was paused throughout", result.Detail);
    }
}
