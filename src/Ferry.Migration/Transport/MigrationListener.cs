using System.Net.Sockets;

namespace Ferry.Migration.Transport;

/// <summary>
/// The destination's side of opening a migration: accepts stream 0, learns from its Hello how
/// many streams the source opens, and accepts and authenticates the rest, each of which must
/// name the same session. Connections that fail authentication are refused and the whole
/// migration with them; nothing is created before every stream is in. The connections come from
/// an <see cref="IMigrationNetwork"/>, TCP unless a test gives another.
/// </summary>
public static class MigrationListener
{
    /// <param name="network">Where the connections come from; null: <see cref="TcpMigrationNetwork"/>.</param>
    public static async Task<AcceptedMigration> AcceptAsync(TcpListener listener, byte[] token, TlsSettings? tls, CancellationToken cancellationToken,
        MigrationTimeouts? timeouts = null, IMigrationNetwork? network = null)
    {
        timeouts ??= MigrationTimeouts.Default;
        network ??= TcpMigrationNetwork.Instance;
        var streams = new List<Stream>();
        Handshake.Prepare(); // a source that connects meanwhile waits in the listen queue
        try
        {
            var first = await AcceptOneAsync(network, listener, tls, cancellationToken);
            streams.Add(first);
            var hello = await Handshake.AuthenticateAsDestinationAsync(new ControlChannel(first, timeouts.Clock), token, cancellationToken, timeouts);
            if (hello.Index != 0) throw new ProtocolException($"the first connection is stream {hello.Index}, not stream 0");
            var ordered = new Stream?[hello.Count];
            ordered[0] = first;
            // The source opens the other streams all at once: authenticate them side by side.
            var handshakes = new List<Task<(Stream, StreamHello)>>();
            for (int i = 1; i < hello.Count; i++)
            {
                using var timeout = timeouts.After(timeouts.NextStream, cancellationToken);
                Stream next;
                try { next = await AcceptOneAsync(network, listener, tls, timeout.Token); }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                { throw new MigrationException($"the source opened {i} of its {hello.Count} streams and no more"); }
                streams.Add(next);
                handshakes.Add(AuthenticateAsync(next, token, timeouts, cancellationToken));
            }
            await Task.WhenAll(handshakes);
            foreach (var (next, other) in handshakes.Select(h => h.Result))
            {
                if (other.Session != hello.Session || other.Mode != hello.Mode || other.Count != hello.Count || other.Version != hello.Version || ordered[other.Index] is not null)
                    throw new ProtocolException($"stream {other.Index} does not belong to this migration");
                ordered[other.Index] = next;
            }
            return new AcceptedMigration(hello.Mode, ordered.Select(s => s!).ToList()) { Session = hello.Session, Version = hello.Version };
        }
        catch (Exception e)
        {
            foreach (var s in streams) await s.DisposeAsync();
            if (e is IOException or System.Net.Sockets.SocketException) throw new MigrationException($"the source's connection broke during the handshake: {e.Message}", e);
            throw;
        }
    }

    private static async Task<(Stream, StreamHello)> AuthenticateAsync(Stream stream, byte[] token, MigrationTimeouts timeouts, CancellationToken cancellationToken) =>
        (stream, await Handshake.AuthenticateAsDestinationAsync(new ControlChannel(stream, timeouts.Clock), token, cancellationToken, timeouts));

    private static async Task<Stream> AcceptOneAsync(IMigrationNetwork network, TcpListener listener, TlsSettings? tls, CancellationToken cancellationToken)
    {
        var link = await network.AcceptAsync(listener, cancellationToken);
        try { return tls is null ? link : await tls.AcceptAsync(link, cancellationToken); }
        catch { await link.DisposeAsync(); throw; }
    }
}

/// <summary>The authenticated connections of one migration, stream 0 first, and its mode.</summary>
public sealed record AcceptedMigration(MigrationMode Mode, IReadOnlyList<Stream> Streams)
{
    /// <summary>The session the source named: a post-copy source that reconnects names the same one.</summary>
    public Guid Session { get; init; }
    /// <summary>The protocol version the source speaks: below 4 it sends no disk images (`--copy-storage`).</summary>
    public uint Version { get; init; } = Handshake.ProtocolVersion;
}
