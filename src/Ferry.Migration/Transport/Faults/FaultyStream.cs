namespace Ferry.Migration.Transport.Faults;

/// <summary>
/// One connection on a <see cref="LinkFaults"/> link: a stream over the real one that waits while
/// the link is stalled, fails once it is cut, and delivers what it receives at the link's rate and
/// latency (FaultyStream.Receiving.cs). Writes go straight through in pieces, each waiting for a
/// flowing link, so a stall holds even a long write.
/// </summary>
internal sealed partial class FaultyStream(Stream inner, LinkFaults link) : Stream
{
    private const int WritePieceBytes = 64 << 10;
    private readonly CancellationTokenSource _closing = new();
    private volatile bool _cut;
    private volatile bool _disposed;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;

    /// <summary>The link was cut: the far end sees the connection close, and everything here fails from now on.</summary>
    public void Break()
    {
        _cut = true;
        Close(inner);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfGone();
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        try
        {
            while (!buffer.IsEmpty)
            {
                await link.WhenFlowingAsync(both.Token);
                int n = Math.Min(buffer.Length, WritePieceBytes);
                await inner.WriteAsync(buffer[..n], both.Token);
                buffer = buffer[n..];
            }
        }
        catch (Exception e) when (Gone(e, cancellationToken)) { throw WhyGone(e); }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // The post-copy fault stream is used with blocking calls on threads of its own.
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, default).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfGone();
        try { await inner.FlushAsync(cancellationToken); }
        catch (Exception e) when (Gone(e, cancellationToken)) { throw WhyGone(e); }
    }

    public override void Flush() => FlushAsync(default).GetAwaiter().GetResult();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            Close(inner);
            link.Closed(this);
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>Stops the receiving pump and whatever waits, and closes the real connection.</summary>
    private void Close(Stream stream)
    {
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
        try { stream.Dispose(); } catch (Exception) { /* a broken connection may fail to close; it is closed all the same */ }
    }

    private void ThrowIfGone()
    {
        if (_cut) throw CutException();
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    /// <summary>True when the call failed because the link was cut or the stream closed under it, not because the caller cancelled.</summary>
    private bool Gone(Exception e, CancellationToken cancellationToken) =>
        (_cut || _disposed) && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested);

    private Exception WhyGone(Exception e) => _cut ? CutException() : new IOException("the connection was closed", e);

    private static IOException CutException() => new("the link was cut (an injected fault)");

    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
