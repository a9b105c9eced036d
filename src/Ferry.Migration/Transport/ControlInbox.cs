using System.Buffers.Binary;

namespace Ferry.Migration.Transport;

/// <summary>
/// The source's one reader of what the destination says on stream 0 (its back channel). Every
/// message is read here and routed by type, so no other part of the source reads the control
/// stream and none can take a message meant for another:
/// <list type="bullet">
/// <item>RoundApplied k: the destination applied live round k on every stream (<see cref="WaitAppliedAsync"/>).</item>
/// <item>Ready, Running and PostCopyDone: each arrives at most once and waits for whoever asks (<see cref="WaitAsync"/>).</item>
/// </list>
/// An Abort, a closed link or a message out of place fails every waiter, present and future, with
/// that one error. Page requests do not come here: they have a stream of their own with a
/// blocking reader (PostCopy/FaultChannel), so a fault never queues behind this loop.
/// </summary>
public sealed class ControlInbox : IDisposable
{
    private static readonly MessageType[] Mail = [MessageType.Ready, MessageType.Running, MessageType.PostCopyDone];
    private readonly object _lock = new();
    private readonly Dictionary<MessageType, TaskCompletionSource<byte[]>> _mail =
        Mail.ToDictionary(t => t, _ => new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously));
    private readonly List<(int Round, TaskCompletionSource Done)> _roundWaiters = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly MigrationTimeouts _timeouts;
    private int _applied = -1;
    private Exception? _error;

    public ControlInbox(ControlChannel channel, MigrationTimeouts timeouts)
    {
        _timeouts = timeouts;
        _ = Task.Run(() => ReadAsync(channel, _stop.Token));
        // Nobody may be waiting when the link fails: the error is kept for the next waiter instead.
        foreach (var box in _mail.Values) _ = box.Task.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>The payload of <paramref name="type"/> (Ready, Running or PostCopyDone) once it arrived; fails after <paramref name="timeout"/>.</summary>
    public async Task<byte[]> WaitAsync(MessageType type, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var box = _mail.TryGetValue(type, out var b) ? b : throw new ArgumentException($"{type} is not a message the source waits for", nameof(type));
        try { return await box.Task.WaitAsync(timeout, _timeouts.Clock, cancellationToken); }
        catch (TimeoutException) { throw new MigrationException($"no {type} from the peer within {timeout.TotalSeconds:F0} s"); }
    }

    /// <summary>
    /// Completes once the destination applied <paramref name="round"/> on every stream. While a
    /// round is on the wire the destination has nothing to say (a warm-up under a bandwidth cap can
    /// take many minutes), so the clock starts when the last byte was sent: now.
    /// </summary>
    public Task WaitAppliedAsync(int round, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_applied >= round) return Task.CompletedTask;
            if (_error is not null) return Task.FromException(_error);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _roundWaiters.Add((round, done));
            return WaitRoundAsync(done.Task, round, cancellationToken);
        }
    }

    private async Task WaitRoundAsync(Task applied, int round, CancellationToken cancellationToken)
    {
        var limit = _timeouts.ApplyRound;
        try { await applied.WaitAsync(limit, _timeouts.Clock, cancellationToken); }
        catch (TimeoutException) { throw new MigrationException($"the destination did not confirm round {round} within {limit.TotalSeconds:F0} s of receiving it"); }
    }

    private async Task ReadAsync(ControlChannel channel, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var (type, payload) = await channel.ReceiveAsync(Timeout.InfiniteTimeSpan, "word", cancellationToken);
                if (type == MessageType.RoundApplied)
                {
                    if (payload.Length != 4) throw new ProtocolException($"the destination sent a RoundApplied of {payload.Length} bytes");
                    Applied((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(payload), int.MaxValue));
                    continue;
                }
                if (!_mail.TryGetValue(type, out var box)) throw new ProtocolException($"the destination sent {type} on the control stream");
                if (!box.TrySetResult(payload)) throw new ProtocolException($"the destination sent {type} twice");
                // Ready ends the rounds: a round still awaited would never be confirmed.
                if (type == MessageType.Ready) FailRounds(new MigrationException("the destination said Ready before the last round"));
            }
        }
        catch (Exception e)
        {
            Fail(cancellationToken.IsCancellationRequested ? new MigrationException("the migration stopped listening to the destination") : e);
        }
    }

    private void Applied(int round)
    {
        lock (_lock)
        {
            _applied = Math.Max(_applied, round);
            foreach (var w in _roundWaiters.Where(w => w.Round <= _applied).ToList())
            {
                w.Done.TrySetResult();
                _roundWaiters.Remove(w);
            }
        }
    }

    private void Fail(Exception e)
    {
        FailRounds(e);
        foreach (var box in _mail.Values) box.TrySetException(e);
        _ended.TrySetResult(e);
    }

    private readonly TaskCompletionSource<Exception> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// After the link broke under the source's writes: the destination's Abort, if it sent one
    /// before it closed (it is read before the end of the stream), so the source can say why
    /// instead of "broken pipe". Waits at most <paramref name="wait"/> for the reader to get there.
    /// </summary>
    public async Task<PeerAbortedException?> AbortedByPeerAsync(TimeSpan wait)
    {
        try { return await _ended.Task.WaitAsync(wait, _timeouts.Clock) as PeerAbortedException; }
        catch (TimeoutException) { return null; }
    }

    private void FailRounds(Exception e)
    {
        lock (_lock)
        {
            _error ??= e;
            foreach (var w in _roundWaiters) w.Done.TrySetException(_error);
            _roundWaiters.Clear();
        }
    }

    /// <summary>Stops reading; waiters fail. The stream itself is the caller's to close.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
