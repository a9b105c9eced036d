using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Ferry.Migration.Transport;

/// <summary>
/// Opens a migration: both sides prove they hold the same token without sending it, by an
/// HMAC-SHA256 over both sides' fresh nonces, and agree on the protocol version and mode.
/// Without tokens on either side the key is empty, which only loopback receivers accept.
/// </summary>
public static class Handshake
{
    public const uint ProtocolVersion = 1;
    private const int NonceBytes = 16, MacBytes = 32;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static async Task AuthenticateAsSourceAsync(ControlChannel channel, byte[] token, MigrationMode mode, CancellationToken cancellationToken)
    {
        var nonceS = RandomNumberGenerator.GetBytes(NonceBytes);
        var hello = new byte[8 + NonceBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, ProtocolVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(4), (uint)mode);
        nonceS.CopyTo(hello, 8);
        await channel.SendAsync(MessageType.Hello, hello, cancellationToken);

        var reply = await channel.ExpectAsync(MessageType.HelloReply, Timeout, cancellationToken);
        if (reply.Length != 4 + NonceBytes + MacBytes) throw new ProtocolException("malformed HelloReply");
        var nonceD = reply.AsSpan(4, NonceBytes).ToArray();
        if (!CryptographicOperations.FixedTimeEquals(reply.AsSpan(4 + NonceBytes), Mac(token, "ferry-destination", nonceS, nonceD)))
        {
            await channel.AbortAsync("authentication failed: the tokens differ", cancellationToken);
            throw new MigrationException("authentication failed: the destination does not hold the same token (check --token-file on both sides)");
        }
        await channel.SendAsync(MessageType.Auth, Mac(token, "ferry-source", nonceS, nonceD), cancellationToken);
        await channel.ExpectAsync(MessageType.AuthOk, Timeout, cancellationToken);
    }

    public static async Task<MigrationMode> AuthenticateAsDestinationAsync(ControlChannel channel, byte[] token, CancellationToken cancellationToken)
    {
        var hello = await channel.ExpectAsync(MessageType.Hello, Timeout, cancellationToken);
        if (hello.Length != 8 + NonceBytes) throw new ProtocolException("malformed Hello: this is not a ferry migration stream");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(hello);
        if (version != ProtocolVersion)
        {
            await channel.AbortAsync($"protocol version {version} is not supported (this side speaks {ProtocolVersion})", cancellationToken);
            throw new ProtocolException($"the source speaks protocol version {version}, this ferry {ProtocolVersion}");
        }
        var mode = (MigrationMode)BinaryPrimitives.ReadUInt32LittleEndian(hello.AsSpan(4));
        if (!Enum.IsDefined(mode)) throw new ProtocolException($"unknown migration mode {(uint)mode}");
        var nonceS = hello.AsSpan(8).ToArray();
        var nonceD = RandomNumberGenerator.GetBytes(NonceBytes);
        var reply = new byte[4 + NonceBytes + MacBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(reply, ProtocolVersion);
        nonceD.CopyTo(reply, 4);
        Mac(token, "ferry-destination", nonceS, nonceD).CopyTo(reply, 4 + NonceBytes);
        await channel.SendAsync(MessageType.HelloReply, reply, cancellationToken);

        var auth = await channel.ExpectAsync(MessageType.Auth, Timeout, cancellationToken);
        if (!CryptographicOperations.FixedTimeEquals(auth, Mac(token, "ferry-source", nonceS, nonceD)))
        {
            await channel.AbortAsync("authentication failed: wrong token", cancellationToken);
            throw new MigrationException("authentication failed: the source does not hold the same token");
        }
        await channel.SendAsync(MessageType.AuthOk, cancellationToken);
        return mode;
    }

    private static byte[] Mac(byte[] token, string role, byte[] nonceS, byte[] nonceD)
    {
        var message = new byte[role.Length + nonceS.Length + nonceD.Length];
        Encoding.ASCII.GetBytes(role, message);
        nonceS.CopyTo(message, role.Length);
        nonceD.CopyTo(message, role.Length + nonceS.Length);
        return HMACSHA256.HashData(token, message);
    }
}
