using System.Net.Sockets;

namespace Ferry.Migration.Transport.Faults;

/// <summary>
/// One network link between a migration's source and destination, and the faults a test can put
/// on it: cut (every open connection breaks both ways; new ones are refused or go through),
/// stalled (no byte moves either way, connections stay open), healed, and shaped (a rate and a
/// one-way latency). Connections join the link through <see cref="Open"/>: in-process through
/// <see cref="FaultyNetwork"/> (the engine's <see cref="IMigrationNetwork"/> seam), or in a TCP
/// proxy between two processes that opens both of its ends here. The same model backs both, so
/// a fault means the same thing to the engine's tests and to the tests of the `ferry` executable.
/// </summary>
/// <remarks>
/// A connection's stream stalls and cuts both directions itself, so one end joining the link is
/// enough for those. Rate and latency are applied to what a stream receives, so a link shapes
/// both directions when both ends of each connection join it (as a proxy's do, and a
/// <see cref="FaultyNetwork"/> given to both the connector and the listener).
/// </remarks>
public sealed class LinkFaults(TimeProvider? clock = null)
{
    private static readonly TaskCompletionSource Flowing = Completed();
    private readonly Lock _lock = new();
    private readonly HashSet<FaultyStream> _open = [];
    private TaskCompletionSource _flowing = Flowing;
    private bool _refusing;
    private LinkShape? _shape;
    private long _carried;
    private int _connections;
    private int _refused;
    private CutTrigger? _trigger;

    private sealed record CutTrigger(long AtBytes, bool RefuseNewConnections, Action? OnCut);

    /// <summary>What shaping and stalls are timed on.</summary>
    public TimeProvider Clock { get; } = clock ?? TimeProvider.System;

    /// <summary>Connections opened on the link so far (refused ones are not counted).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Connections refused so far (the link was cut for good): a test waits on it to know a reconnection was tried.</summary>
    public int Refused => Volatile.Read(ref _refused);

    /// <summary>Bytes the link has handed to a receiving end, both directions together.</summary>
    public long BytesCarried { get { lock (_lock) return _carried; } }

    public bool IsStalled { get { lock (_lock) return !_flowing.Task.IsCompleted; } }
    public bool IsRefusing { get { lock (_lock) return _refusing; } }
    public LinkShape? Shape { get { lock (_lock) return _shape; } }

    /// <summary>
    /// Joins a connection to the link: the stream returned carries the link's faults. While the
    /// link refuses connections, <paramref name="inner"/> is closed and this throws what a refused
    /// TCP connect throws.
    /// </summary>
    public Stream Open(Stream inner)
    {
        lock (_lock)
        {
            if (!_refusing)
            {
                var stream = new FaultyStream(inner, this);
                _open.Add(stream);
                _connections++;
                stream.Start();
                return stream;
            }
        }
        inner.Dispose();
        throw Refusal();
    }

    /// <summary>Throws what a refused TCP connect throws while the link refuses connections.</summary>
    internal void ThrowIfRefusing()
    {
        if (IsRefusing) throw Refusal();
    }

    private SocketException Refusal()
    {
        Interlocked.Increment(ref _refused);
        return new SocketException((int)SocketError.ConnectionRefused);
    }

    /// <summary>Breaks every open connection, both ways: pending and later reads and writes fail, the far ends see the connection closed.</summary>
    /// <param name="refuseNewConnections">True: the path is gone, new connections are refused until <see cref="Heal"/>. False: they go through (a reconnection succeeds).</param>
    public void Cut(bool refuseNewConnections = false)
    {
        List<FaultyStream> breaking;
        lock (_lock)
        {
            _refusing |= refuseNewConnections;
            _trigger = null;
            breaking = [.. _open];
            _open.Clear();
        }
        foreach (var stream in breaking) stream.Break();
    }

    /// <summary>
    /// Cuts the link once it has carried <paramref name="bytes"/> more (a cut mid-transfer at a
    /// chosen point, not at a moment); <paramref name="onCut"/> runs first (a test kills a process there).
    /// </summary>
    public void CutAfter(long bytes, bool refuseNewConnections = false, Action? onCut = null)
    {
        lock (_lock) _trigger = new CutTrigger(_carried + bytes, refuseNewConnections, onCut);
    }

    /// <summary>Stops every byte in both directions; connections stay open, and new ones wait.</summary>
    public void Stall()
    {
        lock (_lock) if (_flowing.Task.IsCompleted) _flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Lets bytes flow again and connections in again. A shape stays until <see cref="Reshape"/> takes it off.</summary>
    public void Heal()
    {
        TaskCompletionSource stalled;
        lock (_lock)
        {
            _refusing = false;
            stalled = _flowing;
            _flowing = Flowing;
        }
        stalled.TrySetResult();
    }

    /// <summary>Shapes the link from now on (pieces already on their way keep the times they had); null: no limit, no added latency.</summary>
    public void Reshape(LinkShape? shape)
    {
        shape?.Validate();
        lock (_lock) _shape = shape;
    }

    /// <summary>Completes at once while the link flows, else when it is healed.</summary>
    internal Task WhenFlowingAsync(CancellationToken cancellationToken)
    {
        Task flowing;
        lock (_lock) flowing = _flowing.Task;
        return flowing.IsCompleted ? Task.CompletedTask : flowing.WaitAsync(cancellationToken);
    }

    internal enum Delivery { Delivered, Stalled, Cut }

    /// <summary>
    /// A stream hands <paramref name="bytes"/> to its reader: counted, unless the link stalled
    /// meanwhile (the reader waits again), or they cross a <see cref="CutAfter"/> mark and the
    /// link is cut instead.
    /// </summary>
    internal Delivery HandOver(int bytes)
    {
        CutTrigger? fired = null;
        lock (_lock)
        {
            if (!_flowing.Task.IsCompleted) return Delivery.Stalled;
            if (_trigger is { } t && _carried + bytes >= t.AtBytes)
            {
                fired = t;
                _trigger = null;
            }
            else _carried += bytes;
        }
        if (fired is null) return Delivery.Delivered;
        fired.OnCut?.Invoke();
        Cut(fired.RefuseNewConnections);
        return Delivery.Cut;
    }

    internal void Closed(FaultyStream stream)
    {
        lock (_lock) _open.Remove(stream);
    }

    private static TaskCompletionSource Completed()
    {
        var flowing = new TaskCompletionSource();
        flowing.SetResult();
        return flowing;
    }
}
