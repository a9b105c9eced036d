using System.Buffers.Binary;
using Ferry.Migration.Transport;

namespace Ferry.Migration.PreCopy;

/// <summary>
/// Reads what the destination says during a live migration, on stream 0's back channel:
/// RoundApplied k after each round (every stream's pages are in guest RAM), then Ready. A round
/// counts as sent only when it is applied, so the measured bandwidth is end to end and no
/// backlog hides in buffers to surface later as downtime.
/// </summary>
public sealed class DestinationFeedback
{
    private readonly object _lock = new();
    private readonly List<(int Round, TaskCompletionSource Done)> _waiters = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _applied = -1;
    private Exception? _error;

    private readonly MigrationTimeouts _timeouts;

    public DestinationFeedback(ControlChannel channel, MigrationTimeouts timeouts, CancellationToken cancellationToken)
    {
        _timeouts = timeouts;
        _ = ReadAsync(channel, cancellationToken);
    }

    /// <summary>Completes when the destination said Ready (or fails with what went wrong).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Completes once the destination applied <paramref name="round"/> on every stream.</summary>
    public Task WaitAppliedAsync(int round, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_error is not null) return Task.FromException(_error);
            if (_applied >= round) return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((round, done));
            return WaitAsync(done.Task, round, _timeouts, cancellationToken);
        }
    }

    private static async Task WaitAsync(Task applied, int round, MigrationTimeouts timeouts, CancellationToken cancellationToken)
    {
        try { await applied.WaitAsync(timeouts.ApplyRound, timeouts.Clock, cancellationToken); }
        catch (TimeoutException) { throw new MigrationException($"the destination did not confirm round {round} within {timeouts.ApplyRound.TotalSeconds:F0} s of receiving it"); }
    }

    private async Task ReadAsync(ControlChannel channel, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var (type, payload) = await channel.ReceiveAsync(Timeout.InfiniteTimeSpan, "word", cancellationToken);
                if (type == MessageType.Ready) { _ready.TrySetResult(); Fail(new MigrationException("the destination said Ready before the last round")); return; }
                if (type != MessageType.RoundApplied || payload.Length != 4) throw new ProtocolException($"the destination sent {type} during the rounds");
                int round = (int)BinaryPrimitives.ReadUInt32LittleEndian(payload);
                lock (_lock)
                {
                    _applied = Math.Max(_applied, round);
                    foreach (var w in _waiters.Where(w => w.Round <= _applied).ToList()) { w.Done.TrySetResult(); _waiters.Remove(w); }
                }
            }
        }
        catch (Exception e)
        {
            _ready.TrySetException(e);
            Fail(e);
        }
    }

    private void Fail(Exception e)
    {
        lock (_lock)
        {
            _error ??= e;
            foreach (var w in _waiters) w.Done.TrySetException(_error);
            _waiters.Clear();
        }
    }
}
