using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Transport.Faults;

namespace Ferry.Tests.Shared;

/// <summary>
/// A TCP proxy between a migration's source and its destination whose link is a
/// <see cref="LinkFaults"/>: the same cut, stall, heal and shape the engine's in-process tests put
/// in its network seam, for tests of separate processes. It listens on loopback only, forwards
/// every connection to the target port, and joins both ends of each to the link, so a shape
/// applies both ways.
/// </summary>
public sealed class LinkProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;

    public LinkProxy(int targetPort, LinkFaults? faults = null)
    {
        _target = targetPort;
        Faults = faults ?? new LinkFaults();
        _listener.Start(32);
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public LinkFaults Faults { get; }

    /// <summary>Connections forwarded so far (a post-copy reconnection adds its streams).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Breaks every connection now; new ones go through (a post-copy source reconnects).</summary>
    public void Cut() => Faults.Cut();

    /// <summary>Breaks every connection and refuses new ones: the path is gone.</summary>
    public void CutForGood() => Faults.Cut(refuseNewConnections: true);

    /// <summary>Breaks the path for good once <paramref name="bytes"/> crossed it (mid-transfer), after running <paramref name="onCut"/>.</summary>
    public void CutAfter(long bytes, Action? onCut = null) => Faults.CutAfter(bytes, refuseNewConnections: true, onCut);

    public void Stall() => Faults.Stall();
    public void Heal() => Faults.Heal();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient fromSource;
            try { fromSource = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => ForwardAsync(fromSource));
        }
    }

    private async Task ForwardAsync(TcpClient fromSource)
    {
        using var toDestination = new TcpClient { NoDelay = true };
        using var _ = fromSource;
        fromSource.NoDelay = true;
        Stream sourceEnd, destinationEnd;
        try
        {
            await toDestination.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            sourceEnd = Faults.Open(fromSource.GetStream());
        }
        catch (Exception) { return; } // no destination, or the link refuses: the source sees its connection close
        try { destinationEnd = Faults.Open(toDestination.GetStream()); }
        catch (SocketException) { await sourceEnd.DisposeAsync(); return; }
        Interlocked.Increment(ref _connections);
        await using (sourceEnd)
        await using (destinationEnd)
            await Task.WhenAny(PumpAsync(sourceEnd, destinationEnd), PumpAsync(destinationEnd, sourceEnd));
    }

    /// <summary>Copies one direction; its end (a close, a cut) closes both, as the original proxies did.</summary>
    private static async Task PumpAsync(Stream from, Stream to)
    {
        try { await from.CopyToAsync(to); }
        catch (Exception) { /* cut or closed */ }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Faults.Cut();
        try { await _accepting; } catch (Exception) { }
    }
}
