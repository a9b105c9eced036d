using System.Threading.Channels;
using Ferry.Agent.Api;

namespace Ferry.Agent;

/// <summary>Hands every event to every watcher connected now; a watcher that falls 1,000 events behind loses the oldest.</summary>
public sealed class EventHub
{
    private readonly Lock _lock = new();
    private readonly List<Channel<Event>> _watchers = [];

    public void Publish(string vm, string kind, string detail = "")
    {
        var e = new Event { UnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Vm = vm, Kind = kind, Detail = detail };
        lock (_lock)
            foreach (var watcher in _watchers) watcher.Writer.TryWrite(e);
    }

    public async IAsyncEnumerable<Event> WatchAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<Event>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_lock) _watchers.Add(channel);
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(cancellationToken)) yield return e;
        }
        finally
        {
            lock (_lock) _watchers.Remove(channel);
        }
    }
}
