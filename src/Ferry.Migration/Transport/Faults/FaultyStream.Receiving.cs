using System.Threading.Channels;

namespace Ferry.Migration.Transport.Faults;

/// <summary>
/// The receiving half: a pump reads the real connection in pieces, each stamped with the time the
/// shaped link would hand it over (after its time on the wire, behind the pieces before it, plus
/// the latency), and reads take the pieces in order once that time has come; a byte counts as
/// carried when a read hands it over. Pieces in flight
/// overlap, as on a real link: latency delays the bytes, it does not slow the link down. The
/// queue is bounded, so a reader that stops reading stops the pump and the real connection's
/// window fills, as it would over TCP.
/// </summary>
internal sealed partial class FaultyStream
{
    private const int QueuedPieces = 64;
    private readonly Channel<Piece> _arrived = Channel.CreateBounded<Piece>(
        new BoundedChannelOptions(QueuedPieces) { SingleReader = true, SingleWriter = true });
    private readonly SemaphoreSlim _oneReader = new(1, 1);
    private Task _receiving = Task.CompletedTask;
    private Exception? _receiveFailure;
    private Piece? _current;
    private int _taken;

    private sealed record Piece(byte[] Bytes, long DueTimestamp);

    public void Start() => _receiving = Task.Run(ReceiveAsync);

    private async Task ReceiveAsync()
    {
        var clock = link.Clock;
        long wireFreeAt = clock.GetTimestamp(); // when the last piece so far is off the wire
        var buffer = new byte[64 << 10];
        try
        {
            while (true)
            {
                await link.WhenFlowingAsync(_closing.Token);
                var shape = link.Shape;
                int n = await inner.ReadAsync(buffer.AsMemory(0, shape?.PieceBytes ?? buffer.Length), _closing.Token);
                if (n == 0) break;
                long now = clock.GetTimestamp();
                long due = now;
                if (shape is not null)
                {
                    wireFreeAt = Math.Max(now, wireFreeAt) + Ticks(shape.OnTheWire(n), clock);
                    due = wireFreeAt + Ticks(shape.Latency, clock);
                }
                await _arrived.Writer.WriteAsync(new Piece(buffer[..n], due), _closing.Token);
                // Nothing more comes off the wire before this piece is: that is the rate.
                if (shape is not null) await DelayUntilAsync(wireFreeAt, _closing.Token);
            }
        }
        catch (Exception e) when (!_closing.IsCancellationRequested) { _receiveFailure = e; }
        catch (Exception) { /* cut or closed: the reader reports that */ }
        finally { _arrived.Writer.TryComplete(); }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfGone();
        if (buffer.IsEmpty) return 0;
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        await _oneReader.WaitAsync(both.Token);
        try
        {
            // Not even the end of the stream crosses a stalled link: a FIN would not arrive either.
            await link.WhenFlowingAsync(both.Token);
            if (_current is null || _taken == _current.Bytes.Length)
            {
                _current = null;
                if (!await _arrived.Reader.WaitToReadAsync(both.Token) || !_arrived.Reader.TryRead(out var next))
                {
                    ThrowIfGone();
                    if (_receiveFailure is { } failure) throw failure as IOException ?? new IOException(failure.Message, failure);
                    return 0; // the far end closed the connection
                }
                await DelayUntilAsync(next.DueTimestamp, both.Token);
                (_current, _taken) = (next, 0);
            }
            int n = Math.Min(buffer.Length, _current.Bytes.Length - _taken);
            // Handing over is checked against the link in one step, so no byte crosses once Stall has returned.
            while (true)
            {
                await link.WhenFlowingAsync(both.Token);
                var handed = link.HandOver(n);
                if (handed == LinkFaults.Delivery.Delivered) break;
                if (handed == LinkFaults.Delivery.Cut) throw CutException(); // a CutAfter mark: these bytes never arrive
            }
            _current.Bytes.AsSpan(_taken, n).CopyTo(buffer.Span);
            _taken += n;
            return n;
        }
        catch (Exception e) when (Gone(e, cancellationToken)) { throw WhyGone(e); }
        finally { _oneReader.Release(); }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, default).GetAwaiter().GetResult();

    private Task DelayUntilAsync(long timestamp, CancellationToken cancellationToken)
    {
        var clock = link.Clock;
        long left = timestamp - clock.GetTimestamp();
        return left <= 0 ? Task.CompletedTask : Task.Delay(TimeSpan.FromSeconds((double)left / clock.TimestampFrequency), clock, cancellationToken);
    }

    private static long Ticks(TimeSpan span, TimeProvider clock) => (long)(span.TotalSeconds * clock.TimestampFrequency);
}
