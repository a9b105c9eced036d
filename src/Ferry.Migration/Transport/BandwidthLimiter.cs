namespace Ferry.Migration.Transport;

/// <summary>
/// Holds the bytes sent by every stream of a migration to a rate: each send books its bytes on
/// a shared timeline and waits until the timeline has caught up, less a small burst allowance
/// so short waits never round up to a scheduler tick.
/// </summary>
public sealed class BandwidthLimiter(long bytesPerSecond, TimeProvider time)
{
    private static readonly TimeSpan Burst = TimeSpan.FromMilliseconds(20);
    private readonly object _lock = new();
    private long _bookedUntil = time.GetTimestamp();

    public long BytesPerSecond { get; } = bytesPerSecond > 0 ? bytesPerSecond : throw new ArgumentOutOfRangeException(nameof(bytesPerSecond));

    public async ValueTask WaitAsync(int bytes, CancellationToken cancellationToken)
    {
        long now = time.GetTimestamp(), until;
        lock (_lock)
        {
            long cost = (long)((double)bytes / BytesPerSecond * time.TimestampFrequency);
            _bookedUntil = Math.Max(_bookedUntil, now) + cost;
            until = _bookedUntil;
        }
        var wait = TimeSpan.FromSeconds((double)(until - now) / time.TimestampFrequency) - Burst;
        if (wait > TimeSpan.Zero) await Task.Delay(wait, time, cancellationToken);
    }
}
