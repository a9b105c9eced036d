using System.Net.Sockets;

namespace Ferry.Migration.Transport.Faults;

/// <summary>
/// The engine's network seam with a <see cref="LinkFaults"/> link in it: every connection the
/// connector opens or the listener accepts through this joins the link. Give the same one to both
/// sides of an in-process migration, and a shaped link is shaped both ways.
/// </summary>
public sealed class FaultyNetwork(LinkFaults link, IMigrationNetwork? inner = null) : IMigrationNetwork
{
    private readonly IMigrationNetwork _inner = inner ?? TcpMigrationNetwork.Instance;

    public LinkFaults Link => link;

    /// <summary>A stalled link answers no connect (the caller's connect timeout ends it); a link cut for good refuses it.</summary>
    public async Task<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        await link.WhenFlowingAsync(cancellationToken);
        link.ThrowIfRefusing(); // before connecting: the far end never hears of a refused connection
        return link.Open(await _inner.ConnectAsync(host, port, cancellationToken));
    }

    /// <summary>A connection that arrives while the link refuses is closed at once, and the listener waits for the next.</summary>
    public async Task<Stream> AcceptAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        while (true)
        {
            var accepted = await _inner.AcceptAsync(listener, cancellationToken);
            try { return link.Open(accepted); }
            catch (SocketException) { /* refused; Open closed it */ }
        }
    }
}
