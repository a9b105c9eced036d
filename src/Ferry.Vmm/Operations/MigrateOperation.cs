using System.Net.Sockets;
using Ferry.Migration;
using Ferry.Migration.Cold;
using Ferry.Migration.Image;
using Ferry.Migration.Transport;

namespace Ferry.Vmm.Operations;

/// <summary>
/// The source side of a cold migration, run inside the VM's process: connect, let the engine
/// move the VM, then act on the outcome. Completed ends this VM (it runs at the destination);
/// outcome unknown holds it paused; any earlier failure leaves it running here.
/// </summary>
public static class MigrateOperation
{
    public static async Task<OperationStatus> RunAsync(KvmVm vm, string host, int port, byte[] token, IProgress<ImageProgress> progress, CancellationToken cancellationToken)
    {
        using var client = new TcpClient { NoDelay = true };
        try
        {
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectTimeout.CancelAfter(TimeSpan.FromSeconds(10));
            await client.ConnectAsync(host, port, connectTimeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return Failed($"cannot connect to {host}:{port}: {e.Message}; the VM keeps running here");
        }
        var source = new ColdMigrationSource(TimeProvider.System);
        MigrationOutcome outcome;
        try
        {
            outcome = await source.RunAsync(vm, client.GetStream(), token, progress, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return Failed($"migration to {host}:{port} was cancelled; the VM keeps running here");
        }
        catch (Exception e) when (e is MigrationException or IOException or SocketException or InvalidOperationException)
        {
            return Failed($"migration to {host}:{port} failed: {e.Message}; the VM keeps running here");
        }
        var report = new OperationReport(outcome.TotalTime.TotalMilliseconds, outcome.Downtime.TotalMilliseconds, outcome.BytesSent, outcome.PagesSent, outcome.ZeroPages, 0);
        if (outcome.Result == MigrationResult.Completed)
        {
            vm.End(new VmExit(VmExitKind.Migrated, $"migrated to {host}:{port}"));
            return new OperationStatus("migrate", OperationStatus.Completed, outcome.BytesSent, outcome.BytesSent, outcome.BytesSent,
                $"the VM runs at {host}:{port}", report);
        }
        string reason = $"migration to {host}:{port} committed but the destination never confirmed it runs the VM ({outcome.Detail})";
        vm.Hold(reason);
        return new OperationStatus("migrate", OperationStatus.OutcomeUnknown, outcome.BytesSent, outcome.BytesSent, outcome.BytesSent,
            $"outcome unknown: {reason}. The VM is paused here. If it runs at the destination, `ferry stop` it here; " +
            $"if not, stop it there and `ferry resume --force` it here.", report);
    }

    private static OperationStatus Failed(string message) => new("migrate", OperationStatus.Failed, 0, 0, 0, message, null);
}
