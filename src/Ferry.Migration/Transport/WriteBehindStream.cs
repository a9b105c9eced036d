using System.Buffers;
using System.Threading.Channels;

namespace Ferry.Migration.Transport;

/// <summary>
/// A write-only stream that hands each write to a background task, so producing the next
/// section (reading guest RAM, checksumming) overlaps sending the previous one. A few MiB may
/// be in flight; FlushAsync waits until all of it reached the inner stream. The first error of
/// the inner stream is rethrown by the next write or flush.
/// </summary>
public sealed class WriteBehindStream : Stream
{
    private const int MaxQueued = 8;
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);
    private readonly Stream _inner;
    private readonly Channel<(byte[] Buffer, int Length, TaskCompletionSource? Flushed)> _queue =
        Channel.CreateBounded<(byte[], int, TaskCompletionSource?)>(MaxQueued);
    private readonly Task _pump;
    private Exception? _error;

    public WriteBehindStream(Stream inner)
    {
        _inner = inner;
        _pump = Task.Run(PumpAsync);
    }

    private async Task PumpAsync()
    {
        await foreach (var (buffer, length, flushed) in _queue.Reader.ReadAllAsync())
        {
            try
            {
                if (_error is null)
                {
                    // A peer that stops reading must not hold the source (and perhaps its paused VM) forever.
                    using var stall = new CancellationTokenSource(StallTimeout);
                    try
                    {
                        if (flushed is null) await _inner.WriteAsync(buffer.AsMemory(0, length), stall.Token);
                        else await _inner.FlushAsync(stall.Token);
                    }
                    catch (OperationCanceledException) when (stall.IsCancellationRequested)
                    {
                        throw new IOException($"the peer took nothing for {StallTimeout.TotalSeconds:F0} s");
                    }
                }
                if (_error is not null) flushed?.TrySetException(_error);
                else flushed?.TrySetResult();
            }
            catch (Exception e)
            {
                _error = e;
                flushed?.TrySetException(e);
            }
            finally
            {
                if (flushed is null) ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_error is not null) throw new IOException(_error.Message, _error);
        var copy = ArrayPool<byte>.Shared.Rent(buffer.Length);
        buffer.CopyTo(copy);
        await _queue.Writer.WriteAsync((copy, buffer.Length, null), cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(([], 0, flushed), cancellationToken);
        await flushed.Task.WaitAsync(cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        _queue.Writer.TryComplete();
        if (disposing) { try { _pump.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { } }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
}
