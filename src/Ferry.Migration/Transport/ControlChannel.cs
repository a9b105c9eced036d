using System.Buffers.Binary;

namespace Ferry.Migration.Transport;

/// <summary>The small control messages of the migration protocol (see docs/migration-protocol.md).</summary>
public enum MessageType : uint
{
    Hello = 1,
    HelloReply = 2,
    Auth = 3,
    // 4 was AuthOk (protocol version 2), gone since the source stopped waiting for it.
    Ready = 10,
    Go = 11,
    Running = 12,
    Abort = 13,
    /// <summary>Destination → source during a live migration: every stream applied round k (u32).</summary>
    RoundApplied = 14,
    /// <summary>Destination → source on the fault stream during post-copy: the guest waits for this page (<c>u64 gpa</c>; see PostCopy/FaultChannel).</summary>
    PageRequest = 15,
    /// <summary>Destination → source on stream 0: every page the source held has arrived; its payload is the destination's post-copy figures.</summary>
    PostCopyDone = 16,
    /// <summary>Destination → source on the fault stream during a `--copy-storage` post-copy: the guest waits for this disk block (<c>u64 disk &lt;&lt; 48 | block</c>).</summary>
    DiskBlockRequest = 17,
}

/// <summary>
/// Frames control messages on the migration stream: <c>u32 type | u32 length | payload</c>, at
/// most 64 KiB. An Abort from the peer becomes a MigrationException carrying its reason. Waits
/// run on <paramref name="clock"/> (the migration's: MigrationTimeouts.Clock).
/// </summary>
public sealed class ControlChannel(Stream input, Stream output, TimeProvider? clock = null)
{
    public const int MaxPayload = 64 * 1024;
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public ControlChannel(Stream stream, TimeProvider? clock = null) : this(stream, stream, clock) { }

    public async Task SendAsync(MessageType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), (uint)payload.Length);
        await output.WriteAsync(header, cancellationToken);
        await output.WriteAsync(payload, cancellationToken);
        await output.FlushAsync(cancellationToken);
    }

    public Task SendAsync(MessageType type, CancellationToken cancellationToken) => SendAsync(type, ReadOnlyMemory<byte>.Empty, cancellationToken);

    public Task AbortAsync(string reason, CancellationToken cancellationToken) =>
        SendAsync(MessageType.Abort, System.Text.Encoding.UTF8.GetBytes(reason.Length > 1000 ? reason[..1000] : reason), cancellationToken);

    /// <summary>Tells the peer why this side ends the migration; best effort, within <paramref name="timeout"/>, never throws.</summary>
    public async Task TryAbortAsync(string reason, TimeSpan timeout)
    {
        using var deadline = new ClockedCancellation(_clock, timeout, CancellationToken.None);
        try { await AbortAsync(reason, deadline.Token); }
        catch (Exception) { /* the link may be gone: the peer learns it from the closed streams */ }
    }

    /// <summary>Receives the next message, which must be <paramref name="expected"/>; gives up after <paramref name="timeout"/>.</summary>
    public async Task<byte[]> ExpectAsync(MessageType expected, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (type, payload) = await ReceiveAsync(timeout, expected.ToString(), cancellationToken);
        if (type != expected) throw new ProtocolException($"the peer sent {type} where {expected} was expected");
        return payload;
    }

    /// <summary>Receives the next message, whatever it is (an Abort throws); gives up after <paramref name="timeout"/>.</summary>
    public async Task<(MessageType Type, byte[] Payload)> ReceiveAsync(TimeSpan timeout, string waitingFor, CancellationToken cancellationToken)
    {
        using var deadline = new ClockedCancellation(_clock, timeout, cancellationToken);
        try
        {
            var header = new byte[8];
            await ReadExactAsync(header, deadline.Token);
            var type = (MessageType)BinaryPrimitives.ReadUInt32LittleEndian(header);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
            if (length > MaxPayload) throw new ProtocolException($"the peer sent an oversized {type} message ({length} bytes)");
            var payload = new byte[length];
            await ReadExactAsync(payload, deadline.Token);
            if (type == MessageType.Abort)
                throw new PeerAbortedException(System.Text.Encoding.UTF8.GetString(payload));
            return (type, payload);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MigrationException($"no {waitingFor} from the peer within {timeout.TotalSeconds:F0} s");
        }
    }

    private async Task ReadExactAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await input.ReadAsync(buffer.AsMemory(done), cancellationToken);
            if (n == 0) throw new MigrationException("the connection to the peer was closed");
            done += n;
        }
    }
}

/// <summary>The peer ended the migration on purpose and said why.</summary>
public sealed class PeerAbortedException(string reason) : MigrationException($"the peer aborted: {OneLine(reason)}")
{
    public string Reason { get; } = OneLine(reason);

    /// <summary>The peer's words go into logs and the console: one line of printable text, at most 300 characters.</summary>
    private static string OneLine(string text)
    {
        var line = new string([.. text.Take(300).Select(c => char.IsControl(c) ? ' ' : c)]);
        return text.Length > 300 ? line + "..." : line;
    }
}
