using Ferry.Migration.Destination;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;
using Ferry.Vmm;
using Ferry.Vmm.Operations;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>
/// A post-copy destination's incoming pages as the VM process's operation: progress for
/// `ferry migrate-status` here, and the end of the VM if the source goes away first.
/// </summary>
public static class PostCopyWatch
{
    public static async Task<OperationStatus> RunAsync(KvmVm vm, DestinationOutcome outcome, Task<PostCopyFigures> postCopy,
        OperationTracker.OperationProgress progress)
    {
        var receiver = outcome.PostCopyReceiver!;
        var cpuBefore = VmmCpuTime.Now();
        long pageSize = ((Ferry.Migration.Vm.IMigratableVm)vm).Memory.PageSize;
        while (!postCopy.IsCompleted)
        {
            string phase = receiver.LinkDown is { } why ? $"post-copy paused: {why}; waiting for the source to reconnect" : "post-copy";
            progress.Report(new MigrationProgress(phase, 0, 0, receiver.RemainingPages * pageSize, 0, 0, TimeSpan.Zero, 0)
            {
                PostCopy = new PostCopyProgress(receiver.RemainingPages, receiver.PagesByRequest, receiver.PagesByPush),
            });
            await Task.WhenAny(postCopy, Task.Delay(100));
        }
        try
        {
            var figures = await postCopy;
            Console.Error.WriteLine($"ferry: {vm.Config.Name}: post-copy complete: every page is here " +
                                    $"({figures.PagesByPush} pushed, {figures.PagesByRequest} fetched on {figures.Faults} faults, fault latency p50 {figures.LatencyP50.TotalMicroseconds:F0} µs; " +
                                    $"VMM CPU outside the vCPUs since the resume {(VmmCpuTime.Now() - cpuBefore).TotalMilliseconds:F0} ms)");
            return new OperationStatus("receive", OperationStatus.Completed, 0, 0, 0, "post-copy complete: every page is here", null);
        }
        catch (Exception e)
        {
            // The pages still missing existed only at the source: running on would read holes.
            string why = $"the VM is lost: {e.Message}. The pages it still lacked were only at the source, so it cannot run on";
            Console.Error.WriteLine($"ferry: {vm.Config.Name}: {why}");
            vm.End(new VmExit(VmExitKind.Lost, why));
            return new OperationStatus("receive", OperationStatus.Failed, 0, 0, 0, why, null);
        }
    }
}
