using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Format;
using Ferry.Migration.Transport;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>
/// A loopback proxy between a migration's source and destination that reads the primary
/// stream's framing (control messages, then sections, then control messages again) and stops
/// all traffic, in both directions and on every stream, just before the first frame that begins
/// a given phase: the test then injects its fault with the migration exactly at that point, and
/// <see cref="Release"/> lets the held bytes go on. <see cref="Cut"/> closes every connection;
/// new ones are forwarded again (a post-copy source reconnects). Only for TLS-less streams.
/// </summary>
public sealed class FaultingLink : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly PhaseStart _trigger;
    private readonly List<Socket> _open = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _flowing = new(true);
    private readonly Task _accepting;
    private int _accepted;

    public FaultingLink(int targetPort, PhaseStart trigger)
    {
        _target = targetPort;
        _trigger = trigger;
        _listener.Start(32);
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Completes when the phase's first frame is about to cross; all traffic is then held.</summary>
    public Task Reached => _reached.Task;

    public void Release() => _flowing.Set();

    public void Cut()
    {
        lock (_open)
        {
            foreach (var s in _open) s.Close();
            _open.Clear();
        }
        Release();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket source;
            try { source = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) { return; }
            var destination = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try { await destination.ConnectAsync(IPAddress.Loopback, _target); }
            catch (SocketException) { source.Dispose(); destination.Dispose(); continue; }
            lock (_open) { _open.Add(source); _open.Add(destination); }
            // The first connection is stream 0 (the connector opens it first and alone); a
            // reconnection's streams are not watched: the fault is injected once.
            bool primary = Interlocked.Increment(ref _accepted) == 1;
            _ = Task.Run(() => Pump(source, destination, primary ? new Framing(fromSource: true) : null));
            _ = Task.Run(() => Pump(destination, source, primary ? new Framing(fromSource: false) : null));
        }
    }

    /// <summary>Copies bytes; on the primary stream it cuts them at frame boundaries and holds before the trigger.</summary>
    private void Pump(Socket from, Socket to, Framing? framing)
    {
        var buffer = new byte[64 << 10];
        try
        {
            while (true)
            {
                int want = framing?.BytesToNextBoundary() is { } left ? (int)Math.Min(left, buffer.Length) : buffer.Length;
                if (framing is { AtBoundary: true })
                {
                    // Read the next frame's header whole, to know what it is before it crosses.
                    var header = new byte[framing.HeaderBytes];
                    if (!ReadExactly(from, header)) break;
                    framing.BeginFrame(header);
                    if (!_reached.Task.IsCompleted && framing.Matches(_trigger))
                    {
                        _flowing.Reset();
                        _reached.TrySetResult();
                    }
                    _flowing.Wait();
                    SendAll(to, header);
                    continue;
                }
                int n = from.Receive(buffer, 0, want, SocketFlags.None);
                if (n == 0) break;
                _flowing.Wait();
                SendAll(to, buffer.AsSpan(0, n));
                framing?.Consumed(n);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        from.Close();
        to.Close();
    }

    private static bool ReadExactly(Socket socket, byte[] into)
    {
        int done = 0;
        while (done < into.Length)
        {
            int n = socket.Receive(into, done, into.Length - done, SocketFlags.None);
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    private static void SendAll(Socket socket, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty) bytes = bytes[socket.Send(bytes)..];
    }

    /// <summary>
    /// Where the primary stream's frames begin. Source to destination: Hello and Auth (control
    /// messages), then sections until End, then control messages (Go, ...). Destination to
    /// source: control messages only. Once a direction is past what this knows, it only copies.
    /// </summary>
    private sealed class Framing(bool fromSource)
    {
        private int _messages;      // control messages seen, source side before the sections
        private bool _inSections;
        private bool _lost;         // past the part of the stream this reads (after Go)
        private long _left;         // bytes of the current frame still to copy

        public bool AtBoundary => !_lost && _left == 0;
        public int HeaderBytes => _inSections ? SectionWriter.FrameHeaderSize : 8;
        public long? BytesToNextBoundary() => _lost || _left == 0 ? null : _left;
        private MessageType? _message;
        private SectionType? _section;

        public void BeginFrame(byte[] header)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (_inSections)
            {
                _section = (SectionType)type;
                _message = null;
                _left = (long)BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8)) + SectionWriter.FrameTrailerSize;
                if (_section == SectionType.End) _inSections = false; // then control messages (Go)
            }
            else
            {
                _message = (MessageType)type;
                _section = null;
                _left = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                if (fromSource && ++_messages == 2) _inSections = true;      // Hello, Auth: then the image
                if (fromSource && _message == MessageType.Go) _lost = true;  // post-copy pushes sections again
            }
            if (_left == 0 && _lost) return;
        }

        public void Consumed(int n) => _left -= n;

        public bool Matches(PhaseStart start) =>
            start.SentBySource == fromSource && (start.Message is { } m ? _message == m : _section == start.Section);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_open) { foreach (var s in _open) s.Close(); _open.Clear(); }
        Release();
        try { await _accepting; } catch (Exception) { }
    }
}
