using System.Net.Sockets;

namespace Ferry.Migration.Transport;

/// <summary>
/// Opens the source's side of a migration: one TCP connection per stream (stream 0 first), each
/// wrapped in TLS when configured and authenticated with the token, all naming one session.
/// </summary>
public static class MigrationConnector
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    public static async Task<IReadOnlyList<Stream>> ConnectAsync(string host, int port, int streamCount, MigrationMode mode, byte[] token,
        TlsSettings? tls, CancellationToken cancellationToken)
    {
        if (streamCount is < 1 or > Handshake.MaxStreams) throw new ArgumentOutOfRangeException(nameof(streamCount));
        var session = Guid.NewGuid();
        var streams = new List<Stream>();
        try
        {
            for (int i = 0; i < streamCount; i++)
            {
                var stream = await ConnectOneAsync(host, port, tls, cancellationToken);
                streams.Add(stream);
                try { await Handshake.AuthenticateAsSourceAsync(new ControlChannel(stream), token, new StreamHello(mode, i, streamCount, session), cancellationToken); }
                catch (Exception e) when (e is IOException || e is MigrationException and not PeerAbortedException)
                {
                    string what = e is IOException ? $"the connection to {host}:{port} broke during the handshake: {e.Message}" : e.Message;
                    // In TLS 1.3 the server checks the client's certificate after the client thinks
                    // the handshake is done: a refusal shows up here as a closed or broken connection.
                    throw new MigrationException(tls is null ? what
                        : $"{what} (the destination may have refused this side's TLS certificate: do both sides use the same --tls-ca?)");
                }
            }
            return streams;
        }
        catch
        {
            foreach (var s in streams) await s.DisposeAsync();
            throw;
        }
    }

    private static async Task<Stream> ConnectOneAsync(string host, int port, TlsSettings? tls, CancellationToken cancellationToken)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ConnectTimeout);
            try { await client.ConnectAsync(host, port, timeout.Token); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            { throw new MigrationException($"cannot connect to {host}:{port}: no answer within {ConnectTimeout.TotalSeconds:F0} s"); }
            catch (SocketException e) { throw new MigrationException($"cannot connect to {host}:{port}: {e.Message}"); }
            Stream stream = client.GetStream();
            return tls is null ? stream : await tls.ConnectAsync(stream, host, cancellationToken);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }
}
