using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Format;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Migration.Tests.Format;

/// <summary>
/// The stall timeouts of section readers and writers, on a fake clock: a peer that sends (or
/// takes) nothing fails the call once the limit has passed on the migration's clock; a caller that
/// pauses between reads does not. Real idle TCP connections, no sleeping.
/// </summary>
public sealed class SectionReaderStallTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    /// <summary>Two ends of a real loopback connection; neither writes until told to.</summary>
    private static async Task<(TcpClient Near, TcpClient Far, TcpListener Listener)> IdleConnectionAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var far = new TcpClient();
        await far.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        return (await listener.AcceptTcpClientAsync(), far, listener);
    }

    [Fact]
    public async Task A_peer_that_sends_nothing_fails_the_read_once_the_limit_passes_on_the_clock()
    {
        var (near, far, listener) = await IdleConnectionAsync();
        using var _ = listener; using var __ = near; using var ___ = far;
        var clock = new FakeTimeProvider();
        var reader = new SectionReader(near.GetStream()) { StallTimeout = Limit, Clock = clock };

        var reading = reader.ReadFrameAsync(default).AsTask();
        clock.Advance(Limit - TimeSpan.FromSeconds(1));
        await Task.Delay(50); // the read would have failed by now if the limit ran on another clock
        Assert.False(reading.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        var e = await Assert.ThrowsAsync<IOException>(() => reading);
        Assert.Contains("sent nothing for 30 s", e.Message);
    }

    [Fact]
    public async Task Time_the_caller_spends_between_reads_is_not_a_stall()
    {
        var image = new MemoryStream();
        var writer = new SectionWriter(image);
        await writer.WriteAsync(SectionType.Configuration, new byte[100], default);
        await writer.WriteAsync(SectionType.DeviceState, new byte[200], default);
        image.Position = 0;
        var clock = new FakeTimeProvider();
        var reader = new SectionReader(image) { StallTimeout = Limit, Clock = clock };

        using var caller = new CancellationTokenSource();
        var first = await reader.ReadFrameAsync(caller.Token);
        await reader.ReadPayloadAsync(new byte[first.Length], caller.Token); // the same token: one linked source
        clock.Advance(Limit * 2);
        var (type, payload) = await reader.ReadAsync(caller.Token);
        Assert.Equal(SectionType.DeviceState, type);
        Assert.Equal(200, payload.Length);
    }

    [Fact]
    public async Task A_peer_that_takes_nothing_fails_the_write_once_the_limit_passes_on_the_clock()
    {
        var (near, far, listener) = await IdleConnectionAsync();
        using var _ = listener; using var __ = near; using var ___ = far;
        var clock = new FakeTimeProvider();
        var writer = new SectionWriter(near.GetStream()) { StallTimeout = Limit, Clock = clock };

        // Far more than the sockets' buffers hold: the write blocks until the peer reads, which it never does.
        var writing = writer.WriteAsync(SectionType.Memory, new byte[32 << 20], default).AsTask();
        await Task.Delay(50);
        Assert.False(writing.IsCompleted);
        clock.Advance(Limit);
        var e = await Assert.ThrowsAsync<IOException>(() => writing);
        Assert.Contains("took nothing for 30 s", e.Message);
    }
}
