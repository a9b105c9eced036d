using System.Net.Sockets;

namespace Ferry.Migration.Transport;

/// <summary>Plain TCP, the network of every real migration. Nagle is off: control messages are small and each one waits for an answer.</summary>
public sealed class TcpMigrationNetwork : IMigrationNetwork
{
    public static TcpMigrationNetwork Instance { get; } = new();

    private TcpMigrationNetwork() { }

    public async Task<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            await client.ConnectAsync(host, port, cancellationToken);
            return client.GetStream(); // owns the socket: disposing the stream closes the connection
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async Task<Stream> AcceptAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        var client = await listener.AcceptTcpClientAsync(cancellationToken);
        client.NoDelay = true;
        return client.GetStream();
    }
}
