using System.Net;
using System.Net.Sockets;

namespace Ferry.Tests.Shared;

/// <summary>
/// A TCP proxy on loopback that forwards every connection to a target port until told to cut
/// them all (a broken link); new connections are forwarded again unless it is told to refuse them.
/// </summary>
public sealed class CuttableLink : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly List<TcpClient> _open = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile bool _refusing;

    public CuttableLink(int targetPort)
    {
        _target = targetPort;
        _listener.Start(16);
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public int Connections;

    /// <summary>Closes every connection now (both ends see the link break).</summary>
    public void Cut()
    {
        lock (_open)
        {
            foreach (var c in _open) c.Client.Close();
            _open.Clear();
        }
    }

    /// <summary>Cuts and refuses (closes at once) every connection from now on: the path is gone.</summary>
    public void CutForGood()
    {
        _refusing = true;
        Cut();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient fromSource;
            try { fromSource = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            if (_refusing) { fromSource.Dispose(); continue; }
            var toDestination = new TcpClient();
            try { await toDestination.ConnectAsync(IPAddress.Loopback, _target); }
            catch (SocketException) { fromSource.Dispose(); toDestination.Dispose(); continue; }
            lock (_open) { _open.Add(fromSource); _open.Add(toDestination); }
            Interlocked.Increment(ref Connections);
            _ = Pump(fromSource, toDestination);
            _ = Pump(toDestination, fromSource);
        }
    }

    private static async Task Pump(TcpClient from, TcpClient to)
    {
        try { await from.GetStream().CopyToAsync(to.GetStream()); }
        catch (Exception) { /* cut */ }
        from.Client.Close();
        to.Client.Close();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Cut();
        try { await _accepting; } catch (Exception) { }
    }
}
