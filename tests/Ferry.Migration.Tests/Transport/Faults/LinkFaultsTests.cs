using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Transport.Faults;

namespace Ferry.Migration.Tests.Transport.Faults;

/// <summary>The fault model on its own, over real loopback connections: cut, stall, heal, shape, and a cut at a byte mark.</summary>
public sealed class LinkFaultsTests : IAsyncDisposable
{
    private readonly LinkFaults _link = new();
    private readonly List<IDisposable> _owned = [];

    /// <summary>Both ends of a fresh loopback connection, as they come from TCP.</summary>
    private async Task<(Stream Near, Stream Far)> ConnectionAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var near = new TcpClient();
        await near.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var far = await listener.AcceptTcpClientAsync();
        listener.Stop();
        _owned.Add(near);
        _owned.Add(far);
        return (near.GetStream(), far.GetStream());
    }

    /// <summary>A connection both of whose ends are on the link, as through a proxy.</summary>
    private async Task<(Stream A, Stream B)> LinkedAsync()
    {
        var (near, far) = await ConnectionAsync();
        return (_link.Open(near), _link.Open(far));
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, int count)
    {
        var bytes = new byte[count];
        await stream.ReadExactlyAsync(bytes);
        return bytes;
    }

    /// <summary>What the far end of a cut connection sees: the end of the stream, or a reset.</summary>
    private static async Task AssertClosedAsync(Stream far)
    {
        try { Assert.Equal(0, await far.ReadAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(10))); }
        catch (IOException) { }
    }

    [Fact]
    public async Task A_cut_fails_a_pending_read_and_every_later_read_and_write_and_the_far_end_sees_the_close()
    {
        var (near, far) = await ConnectionAsync();
        var stream = _link.Open(near);
        var reading = stream.ReadAsync(new byte[16]).AsTask();

        _link.Cut();

        Assert.Contains("cut", (await Assert.ThrowsAsync<IOException>(() => reading)).Message);
        await Assert.ThrowsAsync<IOException>(() => stream.ReadAsync(new byte[16]).AsTask());
        await Assert.ThrowsAsync<IOException>(() => stream.WriteAsync(new byte[16]).AsTask());
        await AssertClosedAsync(far);
    }

    [Fact]
    public async Task A_cut_fails_a_write_that_the_far_end_never_takes()
    {
        var (near, _) = await ConnectionAsync();
        var stream = _link.Open(near);
        // Far more than the sockets' buffers hold: the write waits for a reader that never comes.
        var writing = stream.WriteAsync(new byte[32 << 20]).AsTask();
        await Task.Delay(50);
        Assert.False(writing.IsCompleted);

        _link.Cut();

        await Assert.ThrowsAsync<IOException>(() => writing);
    }

    [Fact]
    public async Task A_cut_lets_new_connections_through_unless_told_to_refuse_them_until_healed()
    {
        _link.Cut();
        var (near, _) = await ConnectionAsync();
        var through = _link.Open(near);
        await through.WriteAsync(new byte[1]);

        _link.Cut(refuseNewConnections: true);
        var (refusedNear, refusedFar) = await ConnectionAsync();
        Assert.Equal(SocketError.ConnectionRefused, Assert.Throws<SocketException>(() => _link.Open(refusedNear)).SocketErrorCode);
        await AssertClosedAsync(refusedFar);

        _link.Heal();
        var (again, _) = await ConnectionAsync();
        await _link.Open(again).WriteAsync(new byte[1]);
        Assert.Equal(2, _link.Connections);
    }

    [Fact]
    public async Task A_stall_holds_bytes_both_ways_with_the_connection_open_until_the_link_heals()
    {
        var (a, b) = await LinkedAsync();
        await a.WriteAsync("before"u8.ToArray());
        Assert.Equal("before"u8.ToArray(), await ReadAllAsync(b, 6));

        _link.Stall();
        var sending = a.WriteAsync("forth"u8.ToArray()).AsTask();
        var answering = b.WriteAsync("back"u8.ToArray()).AsTask();
        var receivingForth = ReadAllAsync(b, 5);
        var receivingBack = ReadAllAsync(a, 4);
        await Task.Delay(100);
        Assert.True(_link.IsStalled);
        Assert.False(sending.IsCompleted || answering.IsCompleted || receivingForth.IsCompleted || receivingBack.IsCompleted);

        _link.Heal();

        await Task.WhenAll(sending, answering);
        Assert.Equal("forth"u8.ToArray(), await receivingForth);
        Assert.Equal("back"u8.ToArray(), await receivingBack);
    }

    [Fact]
    public async Task A_connection_closed_during_a_stall_ends_its_pending_read_instead_of_waiting_for_the_heal()
    {
        var (a, _) = await LinkedAsync();
        _link.Stall();
        var reading = a.ReadAsync(new byte[16]).AsTask();
        await a.DisposeAsync();
        await Assert.ThrowsAsync<IOException>(() => reading);
    }

    [Fact]
    public async Task A_shaped_link_delivers_every_byte_in_order_both_ways()
    {
        _link.Reshape(new LinkShape(BitsPerSecond: 200_000_000, Latency: TimeSpan.FromMilliseconds(2)));
        var (a, b) = await LinkedAsync();
        var forth = RandomBytes(seed: 1, 3 << 20);
        var back = RandomBytes(seed: 2, 1 << 20);

        var sending = WriteInRandomPiecesAsync(a, forth, seed: 3);
        var answering = WriteInRandomPiecesAsync(b, back, seed: 4);
        var receivedForth = ReadAllAsync(b, forth.Length);
        var receivedBack = ReadAllAsync(a, back.Length);
        await Task.WhenAll(sending, answering);

        Assert.Equal(forth, await receivedForth);
        Assert.Equal(back, await receivedBack);
        Assert.Equal(forth.Length + back.Length, _link.BytesCarried);
    }

    [Fact]
    public async Task A_cut_at_a_byte_mark_breaks_the_link_once_that_much_crossed_and_runs_its_action_first()
    {
        var (a, b) = await LinkedAsync();
        bool ran = false;
        _link.CutAfter(256 << 10, refuseNewConnections: true, onCut: () => ran = true);

        var sending = a.WriteAsync(new byte[4 << 20]).AsTask();
        await Assert.ThrowsAsync<IOException>(() => ReadAllAsync(b, 4 << 20));
        try { await sending; } catch (IOException) { /* the sockets' buffers may have taken it all before the cut */ }
        await Assert.ThrowsAsync<IOException>(() => a.WriteAsync(new byte[1]).AsTask());

        Assert.True(ran);
        Assert.True(_link.IsRefusing);
        Assert.InRange(_link.BytesCarried, 1, (256 << 10) - 1); // the bytes that would have crossed the mark never arrive
    }

    [Fact]
    public void A_shape_that_carries_nothing_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _link.Reshape(LinkShape.Rate(0)));

    private static byte[] RandomBytes(int seed, int count)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task WriteInRandomPiecesAsync(Stream stream, byte[] bytes, int seed)
    {
        var random = new Random(seed);
        for (int done = 0; done < bytes.Length;)
        {
            int n = Math.Min(bytes.Length - done, random.Next(1, 200_000));
            await stream.WriteAsync(bytes.AsMemory(done, n));
            done += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        _link.Cut();
        foreach (var o in _owned) o.Dispose();
        return ValueTask.CompletedTask;
    }
}
