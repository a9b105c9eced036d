using System.Net.Sockets;

namespace Ferry.Migration.Transport;

/// <summary>
/// Opens the source's side of a migration: one connection per stream (stream 0 first), each
/// wrapped in TLS when configured and authenticated with the token, all naming one session. The
/// connections come from an <see cref="IMigrationNetwork"/>, TCP unless a test gives another.
/// </summary>
public static class MigrationConnector
{
    /// <param name="session">The migration's session; a post-copy source that reconnects names the one it began with.</param>
    /// <param name="version">The protocol version to say (<see cref="Handshake.VersionFor"/>).</param>
    /// <param name="network">Where the connections come from; null: <see cref="TcpMigrationNetwork"/>.</param>
    public static async Task<IReadOnlyList<Stream>> ConnectAsync(string host, int port, int streamCount, MigrationMode mode, byte[] token,
        TlsSettings? tls, CancellationToken cancellationToken, Guid? session = null, MigrationTimeouts? timeouts = null, uint version = Handshake.OldestProtocolVersion,
        IMigrationNetwork? network = null)
    {
        timeouts ??= MigrationTimeouts.Default;
        network ??= TcpMigrationNetwork.Instance;
        if (streamCount is < 1 or > Handshake.MaxStreams) throw new ArgumentOutOfRangeException(nameof(streamCount));
        var id = session ?? Guid.NewGuid();
        var streams = new Stream?[streamCount];
        try
        {
            // Stream 0 goes first: the receiver takes it first, and a refusal (token, TLS
            // certificate) is reported as such, not as the reset of a later connection. The
            // others then open side by side: their round trips need not add up.
            streams[0] = await ConnectOneAsync(network, host, port, tls, timeouts, cancellationToken);
            await AuthenticateAsync(streams[0]!, host, port, tls, token, new StreamHello(mode, 0, streamCount, id) { Version = version }, timeouts, cancellationToken);
            var opening = Enumerable.Range(1, streamCount - 1).Select(i => Task.Run(async () =>
            {
                streams[i] = await ConnectOneAsync(network, host, port, tls, timeouts, cancellationToken);
                await AuthenticateAsync(streams[i]!, host, port, tls, token, new StreamHello(mode, i, streamCount, id) { Version = version }, timeouts, cancellationToken);
            }, cancellationToken)).ToList();
            try { await WhenAllOrFirstFailure(opening); }
            catch
            {
                // Closing what is open cuts the handshakes still running; a stream that connects
                // after that must not be left open either.
                await DisposeAllAsync(streams);
                try { await Task.WhenAll(opening); } catch (Exception) { /* the first failure is the one to report */ }
                throw;
            }
            return streams.Select(s => s!).ToList();
        }
        catch
        {
            await DisposeAllAsync(streams);
            throw;
        }
    }

    private static async Task DisposeAllAsync(Stream?[] streams)
    {
        foreach (var s in streams) if (s is not null) await s.DisposeAsync();
    }

    /// <summary>Waits for all, but rethrows the first failure at once (the others are then cut by the disposal of their streams).</summary>
    private static async Task WhenAllOrFirstFailure(List<Task> tasks)
    {
        var left = new List<Task>(tasks);
        while (left.Count > 0)
        {
            var done = await Task.WhenAny(left);
            await done;
            left.Remove(done);
        }
    }

    private static async Task AuthenticateAsync(Stream stream, string host, int port, TlsSettings? tls, byte[] token, StreamHello hello,
        MigrationTimeouts timeouts, CancellationToken cancellationToken)
    {
        try { await Handshake.AuthenticateAsSourceAsync(new ControlChannel(stream, timeouts.Clock), token, hello, cancellationToken, timeouts); }
        catch (Exception e) when (e is IOException || e is MigrationException and not PeerAbortedException)
        {
            string what = e is IOException ? $"the connection to {host}:{port} broke during the handshake: {e.Message}" : e.Message;
            // In TLS 1.3 the server checks the client's certificate after the client thinks
            // the handshake is done: a refusal shows up here as a closed or broken connection.
            throw new MigrationException(tls is null ? what
                : $"{what} (the destination may have refused this side's TLS certificate: do both sides use the same --tls-ca?)");
        }
    }

    private static async Task<Stream> ConnectOneAsync(IMigrationNetwork network, string host, int port, TlsSettings? tls, MigrationTimeouts timeouts,
        CancellationToken cancellationToken)
    {
        Stream link;
        using (var timeout = timeouts.After(timeouts.Connect, cancellationToken))
        {
            try { link = await network.ConnectAsync(host, port, timeout.Token); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            { throw new MigrationException($"cannot connect to {host}:{port}: no answer within {timeouts.Connect.TotalSeconds:F0} s"); }
            catch (SocketException e) { throw new MigrationException($"cannot connect to {host}:{port}: {e.Message}"); }
        }
        try { return tls is null ? link : await tls.ConnectAsync(link, host, cancellationToken); }
        catch
        {
            await link.DisposeAsync();
            throw;
        }
    }
}
