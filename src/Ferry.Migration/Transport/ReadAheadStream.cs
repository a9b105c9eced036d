using System.Buffers;
using System.Threading.Channels;

namespace Ferry.Migration.Transport;

/// <summary>
/// A read-only stream that keeps reading its inner stream in the background, a few MiB ahead,
/// so receiving the next section overlaps writing the previous one into guest RAM. End of
/// stream and errors arrive in order, after the data before them.
/// </summary>
public sealed class ReadAheadStream : Stream
{
    private const int ChunkBytes = 1 << 20, MaxQueued = 8;
    private readonly Stream _inner;
    private readonly Channel<(byte[] Array, int Length)> _chunks = Channel.CreateBounded<(byte[], int)>(MaxQueued);
    private readonly CancellationTokenSource _stop = new();
    private byte[]? _currentArray;
    private ReadOnlyMemory<byte> _current;

    public ReadAheadStream(Stream inner)
    {
        _inner = inner;
        _ = Task.Run(PumpAsync);
    }

    private async Task PumpAsync()
    {
        try
        {
            while (true)
            {
                var chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
                int n = await _inner.ReadAsync(chunk.AsMemory(0, ChunkBytes), _stop.Token);
                if (n == 0) { ArrayPool<byte>.Shared.Return(chunk); break; }
                await _chunks.Writer.WriteAsync((chunk, n), _stop.Token);
            }
            _chunks.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _chunks.Writer.TryComplete(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_current.IsEmpty)
        {
            if (_currentArray is not null) { ArrayPool<byte>.Shared.Return(_currentArray); _currentArray = null; }
            try
            {
                if (!await _chunks.Reader.WaitToReadAsync(cancellationToken)) return 0;
            }
            catch (ChannelClosedException e) when (e.InnerException is not null)
            {
                throw new IOException(e.InnerException.Message, e.InnerException);
            }
            if (!_chunks.Reader.TryRead(out var chunk)) return 0;
            _currentArray = chunk.Array;
            _current = chunk.Array.AsMemory(0, chunk.Length);
        }
        int n = Math.Min(buffer.Length, _current.Length);
        _current[..n].CopyTo(buffer);
        _current = _current[n..];
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    protected override void Dispose(bool disposing)
    {
        _stop.Cancel();
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
