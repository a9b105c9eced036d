using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary>Polls a VM's running snapshot or migration and shows its progress; returns the final status.</summary>
public static class OperationWatcher
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    public static async Task<OperationStatus> WatchAsync(ApiClient client, string title, CancellationToken cancellationToken)
    {
        if (Console.IsErrorRedirected) return await WaitAsync(client, _ => { }, cancellationToken);
        OperationStatus? final = null;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(title, maxValue: 1);
                final = await WaitAsync(client, s =>
                {
                    if (s.MemoryBytesTotal > 0) task.MaxValue = s.MemoryBytesTotal;
                    task.Value = s.MemoryBytesDone;
                }, cancellationToken);
                task.Value = task.MaxValue;
            });
        return final!;
    }

    private static async Task<OperationStatus> WaitAsync(ApiClient client, Action<OperationStatus> show, CancellationToken cancellationToken)
    {
        OperationStatus? last = null;
        int failures = 0;
        while (true)
        {
            try
            {
                last = await client.OperationAsync(cancellationToken);
                failures = 0;
            }
            catch (ApiException) when (++failures < 40)
            {
                // A busy VM process may drop one poll; try again shortly.
                await Task.Delay(Poll, cancellationToken);
                continue;
            }
            catch (ApiException) when (last is not null)
            {
                // A VM that migrated away ends its process; if its last word was lost, say what we know.
                return last with { Phase = OperationStatus.Failed, Message = "the VM process ended before reporting the result; check `ferry list` here and at the destination" };
            }
            show(last);
            if (last.Finished) return last;
            await Task.Delay(Poll, cancellationToken);
        }
    }
}
