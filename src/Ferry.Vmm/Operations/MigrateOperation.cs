using System.Net.Sockets;
using Ferry.Migration;
using Ferry.Migration.Cold;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Transport;

namespace Ferry.Vmm.Operations;

/// <summary>
/// The source side of a migration, run inside the VM's process: connect, let the engine move
/// the VM (cold or pre-copy), then act on the outcome. Completed ends this VM (it runs at the
/// destination); outcome unknown holds it paused; any earlier failure leaves it running here.
/// </summary>
public static class MigrateOperation
{
    public static async Task<OperationStatus> RunAsync(KvmVm vm, MigrationPlan plan, OperationTracker.OperationProgress progress, CancellationToken cancellationToken)
    {
        string where = plan.Destination;
        MigrationReport report;
        try
        {
            if (plan.Mode == MigrationMode.Cold)
            {
                IReadOnlyList<Stream> streams = [];
                try
                {
                    report = await new ColdMigrationSource(TimeProvider.System).RunAsync(vm, async ct =>
                        streams = await MigrationConnector.ConnectAsync(plan.Host, plan.Port, plan.PreCopy.Streams, MigrationMode.Cold, plan.Token, plan.Tls, ct),
                        progress, cancellationToken);
                }
                finally
                {
                    foreach (var s in streams) await s.DisposeAsync();
                }
            }
            else
            {
                report = await new PreCopySource(TimeProvider.System).RunAsync(vm,
                    ct => MigrationConnector.ConnectAsync(plan.Host, plan.Port, plan.PreCopy.Streams, MigrationMode.PreCopy, plan.Token, plan.Tls, ct),
                    plan.PreCopy, progress, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            return Failed($"migration to {where} was cancelled; the VM keeps running here");
        }
        catch (Exception e) when (e is MigrationException or IOException or SocketException or InvalidOperationException or InvalidDataException)
        {
            return Failed($"migration to {where} failed: {e.Message}; the VM keeps running here");
        }
        var figures = ToFigures(report);
        if (report.Result == MigrationResult.Completed)
        {
            vm.End(new VmExit(VmExitKind.Migrated, $"migrated to {where}"));
            return new OperationStatus("migrate", OperationStatus.Completed, report.BytesSent, report.BytesSent, report.BytesSent,
                $"the VM runs at {where}", figures);
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
            Mode = r.Mode == MigrationMode.Cold ? "cold" : "precopy",
            SetupMs = r.SetupTime.TotalMilliseconds,
            ThroughputBytesPerSecond = r.ThroughputBytesPerSecond,
            SwitchoverReason = r.SwitchoverReason,
            Rounds = r.Rounds.Select(x => new RoundFigures(x.Round, x.PagesSent, x.ZeroPages, x.BytesSent, x.Duration.TotalMilliseconds,
                x.DirtyPagesPerSecond, x.ThrottlePercent, x.StopAndCopy)).ToList(),
            DowntimePhases = r.DowntimePhases.Select(p => new DowntimePhase(p.Key, p.Value.TotalMilliseconds)).ToList(),
        };

    private static OperationStatus Failed(string message) => new("migrate", OperationStatus.Failed, 0, 0, 0, message, null);
}
