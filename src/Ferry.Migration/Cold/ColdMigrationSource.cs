using System.Diagnostics;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
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
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    public static readonly TimeSpan RunningTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Set once the source has committed: from then on nothing may resume the VM here without a person's decision.</summary>
    public bool Committed { get; private set; }

    public async Task<MigrationOutcome> RunAsync(IMigratableVm vm, Stream stream, byte[] token, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        await vm.PauseAsync(cancellationToken);
        long pausedAt = time.GetTimestamp();
        var channel = new ControlChannel(stream);
        ImageStatistics stats;
        try
        {
            await Handshake.AuthenticateAsSourceAsync(channel, token, MigrationMode.Cold, cancellationToken);
            // Reading guest RAM and sending overlap; the End section's flush drains what is in flight.
            using var sending = new WriteBehindStream(stream);
            stats = await VmImageWriter.WriteAsync(vm, new SectionWriter(sending), progress, cancellationToken);
            await channel.ExpectAsync(MessageType.Ready, ReadyTimeout, cancellationToken);
        }
        catch (Exception e)
        {
            // Not committed: the destination runs nothing without Go, so the VM goes on here.
            // Telling the destination lets it discard its copy instead of holding it for a decision.
            try { await channel.AbortAsync($"the source resumed the VM: {e.Message}", CancellationToken.None); } catch (Exception) { }
            await vm.ResumeAsync(CancellationToken.None);
            throw;
        }

        Committed = true;
        try
        {
            await channel.SendAsync(MessageType.Go, CancellationToken.None);
            await channel.ExpectAsync(MessageType.Running, RunningTimeout, CancellationToken.None);
        }
        catch (Exception e)
        {
            return new MigrationOutcome(MigrationResult.OutcomeUnknown, time.GetElapsedTime(started), time.GetElapsedTime(pausedAt),
                stats.BytesTransferred, stats.PagesSent, stats.ZeroPagesSkipped, e.Message);
        }
        return new MigrationOutcome(MigrationResult.Completed, time.GetElapsedTime(started), time.GetElapsedTime(pausedAt),
            stats.BytesTransferred, stats.PagesSent, stats.ZeroPagesSkipped, "the destination runs the VM");
    }
}
