using System.Net.Sockets;

namespace Ferry.Migration.Transport;

/// <summary>
/// Where the engine gets the byte streams of a migration: the connector opens the source's
/// connections through it and the listener takes the destination's from it, a post-copy
/// reconnection included. TLS and the handshake sit above it, so what it hands out is the bare
/// link. <see cref="TcpMigrationNetwork"/> is the real one; tests put <c>Faults/LinkFaults</c>
/// between the engine and TCP here to cut, stall and shape the link.
/// </summary>
public interface IMigrationNetwork
{
    /// <summary>Opens one connection. A refused or unreachable peer throws SocketException, as TCP does.</summary>
    Task<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken);

    /// <summary>Takes the next connection a source opened to <paramref name="listener"/>.</summary>
    Task<Stream> AcceptAsync(TcpListener listener, CancellationToken cancellationToken);
}
