using System.Diagnostics;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Api;

namespace Ferry.Vmm.Operations;

/// <summary>
/// Writes a snapshot of a VM to a file: pause, write the image to FILE.partial, fsync, rename.
/// A snapshot that fails leaves no file under the final name and the VM as it was.
/// </summary>
public static class SnapshotOperation
{
    public static async Task<OperationStatus> RunAsync(KvmVm vm, string path, bool resume, IProgress<ImageProgress> progress)
    {
        var started = Stopwatch.GetTimestamp();
        bool wasRunning = vm.State == VmRunState.Running;
        vm.Pause();
        string partial = path + ".partial";
        try
        {
            ImageStatistics stats;
            await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                stats = await VmImageWriter.WriteAsync(vm, new SectionWriter(file), progress, CancellationToken.None);
                file.Flush(flushToDisk: true);
            }
            File.Move(partial, path, overwrite: true);
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (resume) vm.Resume();
            return new OperationStatus("snapshot", OperationStatus.Completed, stats.BytesTransferred, stats.BytesTransferred, stats.BytesTransferred,
                $"snapshot written to {path}" + (resume ? "; the VM runs on" : "; the VM stays paused"),
                new OperationReport(elapsed.TotalMilliseconds, resume ? elapsed.TotalMilliseconds : 0, stats.BytesTransferred, stats.PagesSent, stats.ZeroPagesSkipped, stats.UntouchedPagesSkipped));
        }
        catch (Exception e)
        {
            try { File.Delete(partial); } catch (IOException) { }
            if (wasRunning || resume) vm.Resume();
            return new OperationStatus("snapshot", OperationStatus.Failed, 0, 0, 0, $"snapshot to {path} failed: {e.Message}", null);
        }
    }
}
