using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Reporting;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Cold;

/// <summary>
/// Cold migration, source side: pause, send the whole image, and only when the destination says
/// it holds everything (Ready), commit and tell it to run the VM (Go). Before the commit any
/// failure or cancel resumes the VM here, unchanged. After it the VM never runs here on its own:
/// without the destination's Running the outcome is unknown and the VM stays paused.
/// </summary>
public sealed class ColdMigrationSource(TimeProvider time)
{
    private SwitchoverHandshake? _switchover;

    /// <summary>Set once the source has committed: from then on nothing may resume the VM here without a person's decision.</summary>
    public bool Committed => _switchover?.Committed ?? false;

    /// <summary>Migrates over one connection that this call authenticates (tests, simple callers).</summary>
    public Task<MigrationReport> RunAsync(IMigratableVm vm, Stream stream, byte[] token, IProgress<ImageProgress>? progress, CancellationToken cancellationToken) =>
        RunAsync(vm, async ct =>
        {
            await Handshake.AuthenticateAsSourceAsync(new ControlChannel(stream), token, MigrationMode.Cold, ct);
            return stream;
        }, progress, cancellationToken);

    /// <param name="connectAsync">Opens and authenticates the connection; it runs before the VM pauses, so it costs no downtime.</param>
    public async Task<MigrationReport> RunAsync(IMigratableVm vm, Func<CancellationToken, Task<Stream>> connectAsync, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        var stream = await connectAsync(cancellationToken);
        var setup = time.GetElapsedTime(started);
        var channel = new ControlChannel(stream);
        _switchover = new SwitchoverHandshake(channel, time);
        try { await vm.PauseAsync(cancellationToken); }
        catch
        {
            try { await channel.AbortAsync("the source could not pause the VM", ControlChannel.AbortTimeout()); } catch (Exception) { }
            throw;
        }
        long pausedAt = time.GetTimestamp();
        ImageStatistics stats;
        try
        {
            // Reading guest RAM and sending overlap; the End section's flush drains what is in flight.
            using var sending = new WriteBehindStream(stream);
            stats = await VmImageWriter.WriteAsync(vm, new SectionWriter(sending), progress, cancellationToken);
            await _switchover.AwaitReadyAsync(cancellationToken);
        }
        catch (Exception e)
        {
            // Not committed: the destination runs nothing without Go, so the VM goes on here.
            // Telling the destination lets it discard its copy instead of holding it for a decision.
            try { await channel.AbortAsync($"the source resumed the VM: {e.Message}", ControlChannel.AbortTimeout()); } catch (Exception) { }
            await vm.ResumeAsync(CancellationToken.None);
            throw;
        }

        var result = await _switchover.CommitAsync();
        return new MigrationReport(result.Confirmed ? MigrationResult.Completed : MigrationResult.OutcomeUnknown, MigrationMode.Cold,
            time.GetElapsedTime(started, result.ResumedAtTimestamp), time.GetElapsedTime(pausedAt, result.ResumedAtTimestamp), setup,
            stats.BytesTransferred, stats.PagesSent, stats.ZeroPagesSkipped, stats.UntouchedPagesSkipped, [], "cold migration: the VM was paused throughout", result.Detail);
    }
}
