using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Transport;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Migration.Tests.Transport;

/// <summary>
/// The source's one reader of the destination's words: each message reaches whoever waits for
/// its type, in any order of waiting; an Abort, a closed link or a message out of place fails
/// every waiter; the limits run on the migration's clock.
/// </summary>
public sealed class ControlInboxTests : IAsyncLifetime
{
    private TcpListener _listener = null!;
    private TcpClient _source = null!, _destination = null!;
    private readonly FakeTimeProvider _clock = new();
    private ControlInbox _inbox = null!;
    private ControlChannel _says = null!;

    public async Task InitializeAsync()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _source = new TcpClient();
        await _source.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)_listener.LocalEndpoint).Port);
        _destination = await _listener.AcceptTcpClientAsync();
        _inbox = new ControlInbox(new ControlChannel(_source.GetStream(), _clock), new MigrationTimeouts { Clock = _clock });
        _says = new ControlChannel(_destination.GetStream());
    }

    public Task DisposeAsync()
    {
        _inbox.Dispose();
        _source.Dispose();
        _destination.Dispose();
        _listener.Stop();
        return Task.CompletedTask;
    }

    private static byte[] Round(uint k) => BitConverter.GetBytes(k);

    [Fact]
    public async Task Each_message_reaches_the_waiter_for_its_type_whenever_it_asks()
    {
        var round1 = _inbox.WaitAppliedAsync(1, default);
        await _says.SendAsync(MessageType.RoundApplied, Round(0), default);
        await _says.SendAsync(MessageType.RoundApplied, Round(1), default);
        await round1.WaitAsync(TimeSpan.FromSeconds(10));
        await _inbox.WaitAppliedAsync(0, default); // already applied: at once
        await _says.SendAsync(MessageType.Ready, default);
        await _says.SendAsync(MessageType.Running, new byte[] { 7 }, default);
        // Running arrived before anyone asked for it; Ready is asked for after it was read.
        Assert.Equal([7], await _inbox.WaitAsync(MessageType.Running, TimeSpan.FromSeconds(10), default));
        Assert.Empty(await _inbox.WaitAsync(MessageType.Ready, TimeSpan.FromSeconds(10), default));
    }

    [Fact]
    public async Task An_abort_fails_every_waiter_with_the_peers_reason()
    {
        var ready = _inbox.WaitAsync(MessageType.Ready, TimeSpan.FromSeconds(10), default);
        var round = _inbox.WaitAppliedAsync(3, default);
        await _says.AbortAsync("out of memory", default);
        Assert.Contains("out of memory", (await Assert.ThrowsAsync<PeerAbortedException>(() => ready)).Message);
        await Assert.ThrowsAsync<PeerAbortedException>(() => round);
        // A later waiter learns the same.
        await Assert.ThrowsAsync<PeerAbortedException>(() => _inbox.WaitAsync(MessageType.PostCopyDone, TimeSpan.FromSeconds(10), default));
    }

    [Theory]
    [InlineData(MessageType.Go, "the destination sent Go on the control stream")]
    [InlineData(MessageType.Ready, "the destination sent Ready twice")]
    public async Task A_message_out_of_place_is_a_protocol_error(MessageType type, string error)
    {
        var running = _inbox.WaitAsync(MessageType.Running, TimeSpan.FromSeconds(10), default);
        if (type == MessageType.Ready) await _says.SendAsync(MessageType.Ready, default);
        await _says.SendAsync(type, default);
        Assert.Contains(error, (await Assert.ThrowsAsync<ProtocolException>(() => running)).Message);
    }

    [Fact]
    public async Task Ready_before_the_last_round_fails_the_round_awaited()
    {
        var round = _inbox.WaitAppliedAsync(2, default);
        await _says.SendAsync(MessageType.Ready, default);
        Assert.Contains("Ready before the last round", (await Assert.ThrowsAsync<MigrationException>(() => round)).Message);
    }

    [Fact]
    public async Task A_closed_link_fails_every_waiter()
    {
        var ready = _inbox.WaitAsync(MessageType.Ready, Timeout.InfiniteTimeSpan, default);
        _destination.Dispose();
        await Assert.ThrowsAnyAsync<Exception>(() => ready.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_round_not_confirmed_within_the_limit_fails_on_the_migrations_clock()
    {
        var round = _inbox.WaitAppliedAsync(0, default);
        _clock.Advance(TimeSpan.FromSeconds(119));
        await Task.Delay(50);
        Assert.False(round.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var e = await Assert.ThrowsAsync<MigrationException>(() => round);
        Assert.Contains("did not confirm round 0 within 120 s", e.Message);
    }

    [Fact]
    public async Task A_word_not_heard_within_its_limit_names_it()
    {
        var ready = _inbox.WaitAsync(MessageType.Ready, TimeSpan.FromSeconds(120), default);
        _clock.Advance(TimeSpan.FromSeconds(120));
        Assert.Contains("no Ready from the peer within 120 s", (await Assert.ThrowsAsync<MigrationException>(() => ready)).Message);
    }
}
