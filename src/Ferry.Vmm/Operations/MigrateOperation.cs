using System.Net.Sockets;
using Ferry.Migration;
using Ferry.Migration.Cold;
using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Transport;
using Ferry.Api;

namespace Ferry.Vmm.Operations;

/// <summary>
/// The source side of a migration, run inside the VM's process: connect, let the engine move
/// the VM (cold, pre-copy, post-copy or hybrid), then act on the outcome. Completed ends this VM
/// (it runs at the destination, with all its memory); outcome unknown or an interrupted
/// post-copy holds it paused; any earlier failure leaves it running here.
/// </summary>
public static class MigrateOperation
{
    /// <summary>The live migration in progress in this process, if any: `ferry migrate-postcopy` reaches it here.</summary>
    private static (MigrationSource Source, MigrationOptions Options)? _live;
    private static readonly object LiveLock = new();

    /// <summary>Switches the running hybrid migration to post-copy after its current round.</summary>
    public static void RequestPostCopy()
    {
        lock (LiveLock)
        {
            if (_live is not { } live) throw new InvalidOperationException("no live migration is in progress");
            if (!live.Source.RequestPostCopy(live.Options))
                throw new InvalidOperationException(live.Options.Mode.MayPostCopy()
                    ? "the migration has already switched over"
                    : "this migration runs in precopy mode, which cannot switch to post-copy (migrate with --mode hybrid)");
        }
    }

    /// <summary>`ferry migrate-recover`: a post-copy whose link broke reconnects now, to <paramref name="to"/> if given.</summary>
    public static void RequestRecovery(string? to)
    {
        if (to is not null && !TcpEndpoint.TryParse(to, out _, out _)) throw new ArgumentException($"--to {to}: write ADDR:PORT");
        lock (LiveLock)
        {
            if (_live is not { } live || !live.Source.RequestRecovery(to))
                throw new InvalidOperationException("no post-copy migration is waiting to recover (only a post-copy whose link broke can be recovered)");
        }
    }

    public static async Task<OperationStatus> RunAsync(KvmVm vm, MigrationPlan plan, OperationTracker.OperationProgress progress, CancellationToken cancellationToken)
    {
        string where = plan.Destination;
        var cpuBefore = VmmCpuTime.Now();
        MigrationReport report;
        // The destination writes the copy through the image it opens like the VM does: a readonly one cannot take it.
        if (plan.Options.CopyStorage && vm.Config.Disks.FirstOrDefault(d => d.ReadOnly) is { } readOnly)
            return Failed($"migration to {where} failed: --copy-storage copies only writable disks, and {readOnly.Path} is readonly; the VM keeps running here");
        // Shared storage: the source closes its images once paused for good, before the device
        // state goes out; the destination locks them before it says Ready.
        vm.ReleaseBackendsOnSave(true);
        try
        {
            var source = new MigrationSource();
            // Only a live migration can be asked to switch to post-copy or to recover (`ferry migrate-postcopy`, `migrate-recover`).
            if (plan.Mode != MigrationMode.Cold) lock (LiveLock) _live = (source, plan.Options);
            try
            {
                int streams = plan.Options.Streams + (plan.Mode.MayPostCopy() ? 1 : 0);
                var session = Guid.NewGuid();
                // A cold migration shows as an image being written (RAM done of its total), as it always did.
                IProgress<MigrationProgress> shown = plan.Mode == MigrationMode.Cold ? new ColdProgress(progress) : progress;
                report = await source.RunAsync(vm,
                    ct => MigrationConnector.ConnectAsync(plan.Host, plan.Port, streams, plan.Mode, plan.Token, plan.Tls, ct, session, version: Handshake.VersionFor(plan.Options.CopyStorage, plan.Mode)),
                    plan.Options, shown, cancellationToken,
                    // Post-copy after a broken link: the same session, to where it went or where `ferry migrate-recover --to` says.
                    (to, ct) =>
                    {
                        string host = plan.Host;
                        int port = plan.Port;
                        if (to is not null && !TcpEndpoint.TryParse(to, out host, out port)) throw new MigrationException($"--to {to}: write ADDR:PORT");
                        return MigrationConnector.ConnectAsync(host, port, streams, plan.Mode, plan.Token, plan.Tls, ct, session, version: Handshake.VersionFor(plan.Options.CopyStorage, plan.Mode));
                    });
            }
            finally
            {
                lock (LiveLock) _live = null;
            }
        }
        catch (OperationCanceledException)
        {
            return Failed($"migration to {where} was cancelled; the VM keeps running here");
        }
        catch (SourceNotResumedException e)
        {
            return Failed($"migration to {where} failed: {e.Message}");
        }
        catch (Exception e) when (e is MigrationException or IOException or SocketException or InvalidOperationException or InvalidDataException)
        {
            return Failed($"migration to {where} failed: {e.Message.TrimEnd('.')}; the VM keeps running here");
        }
        finally
        {
            vm.ReleaseBackendsOnSave(false);
        }
        var figures = ToFigures(report) with { VmmCpuMs = (VmmCpuTime.Now() - cpuBefore).TotalMilliseconds };
        if (report.Result == MigrationResult.Completed)
        {
            vm.End(new VmExit(VmExitKind.Migrated, $"migrated to {where}"));
            return new OperationStatus("migrate", OperationStatus.Completed, report.BytesSent, report.BytesSent, report.BytesSent,
                $"the VM runs at {where}", figures);
        }
        if (report.Result == MigrationResult.PostCopyInterrupted)
        {
            string lost = $"post-copy to {where} was interrupted: {report.Detail}";
            vm.Hold(lost);
            return new OperationStatus("migrate", OperationStatus.OutcomeUnknown, report.BytesSent, report.BytesSent, report.BytesSent,
                $"{lost}. The VM ran at the destination with part of its memory still here; this copy is held paused. " +
                "If the destination is gone, `ferry resume --force` resumes the VM here as it was at the switchover (what it did there is lost); " +
                "otherwise `ferry stop` it here once the destination has given up.", figures);
        }
        string reason = $"migration to {where} committed but the destination never confirmed it runs the VM ({report.Detail})";
        vm.Hold(reason);
        return new OperationStatus("migrate", OperationStatus.OutcomeUnknown, report.BytesSent, report.BytesSent, report.BytesSent,
            $"outcome unknown: {reason}. The VM is paused here. If it runs at the destination, `ferry stop` it here; " +
            $"if not, stop it there and `ferry resume --force` it here.", figures);
    }

    private static OperationReport ToFigures(MigrationReport r) =>
        new(r.TotalTime.TotalMilliseconds, r.Downtime.TotalMilliseconds, r.BytesSent, r.PagesSent, r.ZeroPages, r.UntouchedPages)
        {
            Mode = r.Mode.Name(),
            SetupMs = r.SetupTime.TotalMilliseconds,
            ThroughputBytesPerSecond = r.ThroughputBytesPerSecond,
            SwitchoverReason = r.SwitchoverReason,
            Rounds = r.Rounds.Select(x => new RoundFigures(x.Round, x.PagesSent, x.ZeroPages, x.BytesSent, x.Duration.TotalMilliseconds,
                x.DirtyPagesPerSecond, x.ThrottlePercent, x.StopAndCopy)).ToList(),
            DowntimePhases = r.DowntimePhases.Select(p => new DowntimePhase(p.Key, p.Value.TotalMilliseconds)).ToList(),
            PostCopy = r.PostCopy is { } pc ? PostCopyPhases.From(pc) : null,
            Storage = r.Storage is { } st ? new StorageFigures(st.BytesSent, st.BlocksSent, st.BlocksResent, st.BlocksAtSwitchover, st.BlockBytes) { BlocksRequested = st.BlocksRequested } : null,
        };

    private static OperationStatus Failed(string message) => new("migrate", OperationStatus.Failed, 0, 0, 0, message, null);
}
