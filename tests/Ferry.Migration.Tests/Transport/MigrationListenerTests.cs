using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Transport;

namespace Ferry.Migration.Tests.Transport;

/// <summary>Opening a migration over several streams: every stream must belong to the session stream 0 opened.</summary>
public sealed class MigrationListenerTests
{
    private static readonly byte[] Token = "secret"u8.ToArray();

    private static async Task<Stream> OpenAsync(int port, StreamHello hello, byte[]? token = null)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await Handshake.AuthenticateAsSourceAsync(new ControlChannel(stream), token ?? Token, hello, default);
        return stream;
    }

    /// <summary>A receiver on a free loopback port, already accepting.</summary>
    private static (TcpListener Listener, int Port, Task<AcceptedMigration> Accepting) Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(16);
        return (listener, ((IPEndPoint)listener.LocalEndpoint).Port, MigrationListener.AcceptAsync(listener, Token, null, default));
    }

    [Fact]
    public async Task All_streams_of_one_session_are_accepted_in_order()
    {
        var (listener, port, accepting) = Listen();
        var session = Guid.NewGuid();
        var opened = new List<Stream>();
        for (int i = 0; i < 3; i++) opened.Add(await OpenAsync(port, new StreamHello(MigrationMode.PreCopy, i, 3, session)));
        var accepted = await accepting;
        Assert.Equal(MigrationMode.PreCopy, accepted.Mode);
        Assert.Equal(3, accepted.Streams.Count);
        listener.Stop();
    }

    [Fact]
    public async Task A_stream_from_another_session_is_refused()
    {
        var (listener, port, accepting) = Listen();
        // The source holds its streams open (it does not wait for the destination's verdict).
        await using var first = await OpenAsync(port, new StreamHello(MigrationMode.PreCopy, 0, 2, Guid.NewGuid()));
        await using var second = await OpenAsync(port, new StreamHello(MigrationMode.PreCopy, 1, 2, Guid.NewGuid()));
        var e = await Assert.ThrowsAsync<ProtocolException>(() => accepting);
        Assert.Contains("does not belong to this migration", e.Message);
        listener.Stop();
    }

    [Fact]
    public async Task A_first_connection_that_is_not_stream_0_is_refused()
    {
        var (listener, port, accepting) = Listen();
        await using var first = await OpenAsync(port, new StreamHello(MigrationMode.PreCopy, 1, 2, Guid.NewGuid()));
        await Assert.ThrowsAsync<ProtocolException>(() => accepting);
        listener.Stop();
    }
}
