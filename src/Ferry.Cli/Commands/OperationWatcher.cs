using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;
using Spectre.Console;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>Polls a VM's running snapshot or migration and shows its progress; returns the final status.</summary>
public static class OperationWatcher
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan BusyPatience = TimeSpan.FromSeconds(60);

    public static async Task<OperationStatus> WatchAsync(ApiClient client, string title, CancellationToken cancellationToken)
    {
        if (Console.IsErrorRedirected) return await WaitAsync(client, PrintRoundChanges(), cancellationToken);
        OperationStatus? final = null;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(title, maxValue: 1);
                final = await WaitAsync(client, s =>
                {
                    if (s.Live is { } live)
                    {
                        // A live migration has no fixed total: show the round and what is left of it.
                        task.Description = $"{title}: {Describe(live, s.BytesTransferred)}";
                        task.MaxValue = Math.Max(1, s.BytesTransferred + live.RemainingBytes);
                        task.Value = s.BytesTransferred;
                        return;
                    }
                    if (s.MemoryBytesTotal > 0) task.MaxValue = s.MemoryBytesTotal;
                    task.Value = s.MemoryBytesDone;
                }, cancellationToken);
                task.Value = task.MaxValue;
            });
        return final!;
    }

    private static string Describe(LiveProgress live, long sent) => live.PagesAtSource is { } left
        ? $"{live.Step}, sent {Units.Bytes(sent)}, {left} pages still at the source, {live.PagesRequested} requested on faults, {live.PagesPushed} pushed"
        : $"{live.Step}, sent {Units.Bytes(sent)}, left {Units.Bytes(live.RemainingBytes)}, dirty {live.DirtyPagesPerSecond:F0} pages/s, " +
        $"{Units.Bytes((long)live.BandwidthBytesPerSecond)}/s, expected downtime " +
        (live.ExpectedDowntimeMs < 0 ? "unknown" : $"{live.ExpectedDowntimeMs:F0} ms") + (live.ThrottlePercent > 0 ? $", throttle {live.ThrottlePercent} %" : "") +
        (live.DiskBytesSent is { } disk ? $", disk {Units.Bytes(disk)} sent ({live.DiskBlocksResent} blocks again, {Units.Bytes(live.DiskBytesPending ?? 0)} pending)" : "");

    /// <summary>Without a terminal: one line each time a live migration enters a new step, so logs show its course.</summary>
    private static Action<OperationStatus> PrintRoundChanges()
    {
        string? last = null;
        return s =>
        {
            if (s.Live is not { } live || live.Step == last || live.Step == "deciding") return;
            last = live.Step;
            Console.Error.WriteLine($"ferry: {Describe(live, s.BytesTransferred)}");
        };
    }

    private static async Task<OperationStatus> WaitAsync(ApiClient client, Action<OperationStatus> show, CancellationToken cancellationToken)
    {
        OperationStatus? last = null;
        long? failingSince = null;
        string? lastError = null;
        bool Remember(ApiException e) { lastError = e.Message; return true; }
        while (true)
        {
            try
            {
                last = await client.OperationAsync(cancellationToken);
                failingSince = null;
            }
            catch (ApiException e) when (Remember(e) && ApiClient.IsAlive(client.SocketPath) &&
                                       System.Diagnostics.Stopwatch.GetElapsedTime(failingSince ??= System.Diagnostics.Stopwatch.GetTimestamp()) < BusyPatience)
            {
                // A VM process busy moving gigabytes may answer slowly; as long as something accepts
                // on its socket it is alive, so keep asking. A killed process leaves its socket file
                // behind, but nothing accepts on it: that is known at once, not after the patience.
                await Task.Delay(Poll, cancellationToken);
                continue;
            }
            catch (ApiException) when (last is not null)
            {
                // A VM that migrated away ends its process; if its last word was lost, say what we know.
                // Its process only ends by itself once the VM runs elsewhere (or if it crashed), so
                // "it runs here" would be the one answer known to be wrong.
                return last with { Phase = last.Kind == "migrate" ? OperationStatus.OutcomeUnknown : OperationStatus.Failed,
                    Message = $"the VM process ended before reporting the result ({lastError}); it most likely runs at the destination now: check `ferry list` there" };
            }
            show(last);
            if (last.Finished) return last;
            await Task.Delay(Poll, cancellationToken);
        }
    }
}
