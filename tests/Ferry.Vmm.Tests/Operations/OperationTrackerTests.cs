using Ferry.Api;
using Ferry.Vmm.Operations;

namespace Ferry.Vmm.Tests.Operations;

/// <summary>The tracker's "final status read" belongs to one operation: a migrated VM's process waits for its own result to be read.</summary>
public sealed class OperationTrackerTests
{
    private static async Task<OperationStatus> Finished(OperationTracker tracker)
    {
        for (int i = 0; i < 500 && tracker.Status is not { Finished: true }; i++) await Task.Delay(10);
        return tracker.Status!;
    }

    [Fact]
    public async Task A_snapshot_result_read_earlier_does_not_count_for_the_next_migration()
    {
        var tracker = new OperationTracker();
        tracker.Start("snapshot", (_, _) => Task.FromResult(new OperationStatus("snapshot", OperationStatus.Completed, 0, 0, 0, "done", null)));
        await Finished(tracker);
        tracker.MarkFinalStatusRead();
        Assert.True(tracker.FinalStatusRead.IsCompleted);

        var release = new TaskCompletionSource();
        tracker.Start("migrate", async (_, _) =>
        {
            await release.Task;
            return new OperationStatus("migrate", OperationStatus.Completed, 0, 0, 0, "moved", null);
        });
        Assert.False(tracker.FinalStatusRead.IsCompleted);
        release.SetResult();
        await Finished(tracker);
        Assert.False(tracker.FinalStatusRead.IsCompleted);
        tracker.MarkFinalStatusRead();
        Assert.True(tracker.FinalStatusRead.IsCompleted);
    }
}
