using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Format;

namespace Ferry.Migration.Tests.Format;

/// <summary>The reader's stall timeout: a peer that sends nothing fails the read; a caller that pauses between reads does not.</summary>
public sealed class SectionReaderStallTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task A_peer_that_sends_nothing_fails_the_read_after_the_stall_timeout()
    {
        // A real connection whose peer stays open and never writes a byte.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var peer = new TcpClient();
        await peer.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await listener.AcceptTcpClientAsync();
        var reader = new SectionReader(accepted.GetStream()) { StallTimeout = Limit };
        var e = await Assert.ThrowsAsync<IOException>(() => reader.ReadFrameAsync(default).AsTask());
        Assert.Contains("sent nothing", e.Message);
    }

    [Fact]
    public async Task Time_the_caller_spends_between_reads_is_not_a_stall()
    {
        var image = new MemoryStream();
        var writer = new SectionWriter(image);
        await writer.WriteAsync(SectionType.Configuration, new byte[100], default);
        await writer.WriteAsync(SectionType.DeviceState, new byte[200], default);
        image.Position = 0;
        var reader = new SectionReader(image) { StallTimeout = Limit };

        using var caller = new CancellationTokenSource();
        var first = await reader.ReadFrameAsync(caller.Token);
        await reader.ReadPayloadAsync(new byte[first.Length], caller.Token); // the same token: one linked source
        await Task.Delay(Limit * 2);
        var (type, payload) = await reader.ReadAsync(caller.Token);
        Assert.Equal(SectionType.DeviceState, type);
        Assert.Equal(200, payload.Length);
    }
}
