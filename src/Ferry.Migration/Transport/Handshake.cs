using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Ferry.Migration.Transport;

/// <summary>
/// Opens each connection of a migration: both sides prove they hold the same token without
/// sending it, by an HMAC-SHA256 over both sides' fresh nonces, and agree on the protocol
/// version and mode. A migration may use several connections; each says which stream of which
/// session it is, and the MAC covers that too. Without tokens the key is empty, which only
/// loopback receivers (or TLS with certificates) accept. One round trip: the source checks the
/// destination's MAC in HelloReply (a wrong token fails there, on this side) and sends data right
/// after its own Auth; a destination that refuses that Auth reads nothing further and aborts.
/// </summary>
public static class Handshake
{
    /// <summary>
    /// The newest version: 4 added the `--copy-storage` sections (DiskImages, DiskBlocks); 5 its
    /// post-copy, whose disk blocks are fetched on demand after the switchover (PostCopyDiskBlocks,
    /// DiskBlockRequest and disk replies on the fault stream).
    /// </summary>
    public const uint ProtocolVersion = 5;
    /// <summary>The oldest version a destination still speaks. A source says 3 unless it copies disks, so receivers that know only 3 still take it.</summary>
    public const uint OldestProtocolVersion = 3;

    /// <summary>The version a source says: the oldest one that carries what this migration sends.</summary>
    public static uint VersionFor(bool copyStorage, MigrationMode mode) =>
        !copyStorage ? OldestProtocolVersion : mode.MayPostCopy() ? ProtocolVersion : 4;

    public const int MaxStreams = 16;
    private const int NonceBytes = 16, MacBytes = 32, SessionBytes = 16;
    private const int HelloBytes = 16 + NonceBytes + SessionBytes;

    public static async Task AuthenticateAsSourceAsync(ControlChannel channel, byte[] token, MigrationMode mode, CancellationToken cancellationToken) =>
        await AuthenticateAsSourceAsync(channel, token, new StreamHello(mode, 0, 1, Guid.NewGuid()), cancellationToken);

    public static async Task AuthenticateAsSourceAsync(ControlChannel channel, byte[] token, StreamHello stream, CancellationToken cancellationToken,
        MigrationTimeouts? timeouts = null)
    {
        var timeout = (timeouts ?? MigrationTimeouts.Default).Handshake;
        var nonceS = RandomNumberGenerator.GetBytes(NonceBytes);
        var hello = new byte[HelloBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, stream.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(4), (uint)stream.Mode);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(8), (uint)stream.Index);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(12), (uint)stream.Count);
        nonceS.CopyTo(hello, 16);
        stream.Session.TryWriteBytes(hello.AsSpan(16 + NonceBytes));
        nonceS = hello.AsSpan(4).ToArray(); // the MAC covers the mode, the stream's identity and the nonce
        await channel.SendAsync(MessageType.Hello, hello, cancellationToken);

        var reply = await channel.ExpectAsync(MessageType.HelloReply, timeout, cancellationToken);
        if (reply.Length != 4 + NonceBytes + MacBytes) throw new ProtocolException("malformed HelloReply");
        var nonceD = reply.AsSpan(4, NonceBytes).ToArray();
        if (!CryptographicOperations.FixedTimeEquals(reply.AsSpan(4 + NonceBytes), Mac(token, "ferry-destination", nonceS, nonceD)))
        {
            await channel.AbortAsync("authentication failed: the tokens differ", cancellationToken);
            throw new MigrationException("authentication failed: the destination does not hold the same token (check --token-file on both sides)");
        }
        await channel.SendAsync(MessageType.Auth, Mac(token, "ferry-source", nonceS, nonceD), cancellationToken);
    }

    public static async Task<StreamHello> AuthenticateAsDestinationAsync(ControlChannel channel, byte[] token, CancellationToken cancellationToken,
        MigrationTimeouts? timeouts = null)
    {
        var timeout = (timeouts ?? MigrationTimeouts.Default).Handshake;
        var hello = await channel.ExpectAsync(MessageType.Hello, timeout, cancellationToken);
        if (hello.Length < 8) throw new ProtocolException("malformed Hello: this is not a ferry migration stream");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(hello);
        if (version is < OldestProtocolVersion or > ProtocolVersion)
        {
            await channel.AbortAsync($"protocol version {version} is not supported (this side speaks {OldestProtocolVersion} to {ProtocolVersion})", cancellationToken);
            throw new ProtocolException($"the source speaks protocol version {version}, this ferry {OldestProtocolVersion} to {ProtocolVersion}");
        }
        if (hello.Length != HelloBytes) throw new ProtocolException("malformed Hello: this is not a ferry migration stream");
        var mode = (MigrationMode)BinaryPrimitives.ReadUInt32LittleEndian(hello.AsSpan(4));
        if (!Enum.IsDefined(mode)) throw new ProtocolException($"unknown migration mode {(uint)mode}");
        int index = (int)BinaryPrimitives.ReadUInt32LittleEndian(hello.AsSpan(8));
        int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(hello.AsSpan(12));
        if (count is < 1 or > MaxStreams || index < 0 || index >= count)
            throw new ProtocolException($"malformed Hello: stream {index} of {count}");
        var session = new Guid(hello.AsSpan(16 + NonceBytes, SessionBytes));
        var nonceS = hello.AsSpan(4).ToArray();
        var nonceD = RandomNumberGenerator.GetBytes(NonceBytes);
        var reply = new byte[4 + NonceBytes + MacBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(reply, version); // the source's: this side speaks it
        nonceD.CopyTo(reply, 4);
        Mac(token, "ferry-destination", nonceS, nonceD).CopyTo(reply, 4 + NonceBytes);
        await channel.SendAsync(MessageType.HelloReply, reply, cancellationToken);

        var auth = await channel.ExpectAsync(MessageType.Auth, timeout, cancellationToken);
        if (!CryptographicOperations.FixedTimeEquals(auth, Mac(token, "ferry-source", nonceS, nonceD)))
        {
            await channel.AbortAsync("authentication failed: wrong token", cancellationToken);
            throw new MigrationException("authentication failed: the source does not hold the same token");
        }
        return new StreamHello(mode, index, count, session) { Version = version };
    }

    /// <summary>
    /// Loads the cryptography library now: its first use in a process costs several milliseconds
    /// (measured: HelloReply 7–8 ms late from a fresh receiver), which a receiver waiting for its
    /// source can spend in advance instead of inside the migration.
    /// </summary>
    public static void Prepare() => Mac(RandomNumberGenerator.GetBytes(NonceBytes), "prepare", [], []);

    private static byte[] Mac(byte[] token, string role, byte[] nonceS, byte[] nonceD)
    {
        var message = new byte[role.Length + nonceS.Length + nonceD.Length];
        Encoding.ASCII.GetBytes(role, message);
        nonceS.CopyTo(message, role.Length);
        nonceD.CopyTo(message, role.Length + nonceS.Length);
        return HMACSHA256.HashData(token, message);
    }
}

/// <summary>What a connection says of itself in Hello: the mode, and which of the session's streams it is (0 carries the control messages).</summary>
public sealed record StreamHello(MigrationMode Mode, int Index, int Count, Guid Session)
{
    /// <summary>The protocol version the source speaks (<see cref="Handshake.VersionFor"/>).</summary>
    public uint Version { get; init; } = Handshake.ProtocolVersion;
}
