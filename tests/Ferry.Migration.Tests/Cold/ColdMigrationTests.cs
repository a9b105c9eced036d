using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Cold;
using Ferry.Migration.Destination;
using Ferry.Migration.Reporting;
using Ferry.Migration.Source;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Transport;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Vm;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Migration.Tests.Cold;

/// <summary>The commit protocol between the two engines over loopback TCP, against simulated VMs.</summary>
public sealed class ColdMigrationTests
{
    private const ulong Size = 8 << 20;
    private static readonly byte[] Token = "secret"u8.ToArray();

    private static async Task<(Stream Source, Stream Destination, TcpListener Listener)> ConnectAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        var accept = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var server = await accept;
        return (client.GetStream(), server.GetStream(), listener);
    }

    /// <summary>The source in cold mode over one connection that it authenticates first.</summary>
    private static Task<MigrationReport> SendColdAsync(IMigratableVm vm, Stream stream, IProgress<MigrationProgress>? progress = null) =>
        new MigrationSource().RunAsync(vm, async ct =>
        {
            await Handshake.AuthenticateAsSourceAsync(new ControlChannel(stream), Token, MigrationMode.Cold, ct);
            return (IReadOnlyList<Stream>)[stream];
        }, new MigrationOptions { Mode = MigrationMode.Cold }, progress, default);

    [Fact]
    public async Task A_cold_migration_moves_memory_and_state_and_runs_the_vm_only_at_the_destination()
    {
        var source = new SimulatedVm(Size, state: [4, 2]).Fill(seed: 7, pages: 500);
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        SimulatedVm? created = null;
        bool ranAtDestination = false;
        var destinationTask = new MigrationDestination().RunAsync(d, Token,
            cfg => created = new SimulatedVm(Size), vm => { ranAtDestination = true; return Task.CompletedTask; }, null, default);
        var outcome = await SendColdAsync(source, s);
        var (result, vm, _) = await destinationTask;

        Assert.Equal(MigrationResult.Completed, outcome.Result);
        Assert.Equal(DestinationResult.Running, result);
        Assert.True(ranAtDestination);
        Assert.True(source.Paused, "the source VM must stay paused: it runs elsewhere now");
        Assert.Equal(0, source.Resumes);
        Assert.Equal(source.Bytes, ((SimulatedVm)vm).Bytes);
        Assert.Equal([4, 2], created!.LoadedState);
        Assert.True(outcome.Downtime <= outcome.TotalTime);
    }

    [Fact]
    public async Task A_cold_report_has_no_rounds_or_phases_and_its_progress_counts_ram_done_of_the_total()
    {
        var source = new SimulatedVm(Size).Fill(seed: 8, pages: 700, zeroEvery: 5);
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        var receiving = new MigrationDestination().RunAsync(d, Token, cfg => new SimulatedVm(Size), _ => Task.CompletedTask, null, default);
        var shown = new List<ImageProgress>();
        var outcome = await SendColdAsync(source, s, new ColdProgress(new Recorder(shown)));
        await receiving;

        Assert.Equal(MigrationMode.Cold, outcome.Mode);
        Assert.Equal("cold migration: the VM was paused throughout", outcome.SwitchoverReason);
        Assert.Empty(outcome.Rounds);
        Assert.Empty(outcome.DowntimePhases);
        Assert.Null(outcome.PostCopy);
        long resident = ((long)(Size / SimulatedVm.PageSize) - outcome.UntouchedPages) * SimulatedVm.PageSize;
        Assert.Equal(resident / SimulatedVm.PageSize, outcome.PagesSent + outcome.ZeroPages);
        Assert.Equal(new ImageProgress(resident, resident, outcome.BytesSent), shown[^1]);
        Assert.All(shown, p => Assert.Equal(resident, p.MemoryBytesTotal));
    }

    private sealed class Recorder(List<ImageProgress> shown) : IProgress<ImageProgress>
    {
        public void Report(ImageProgress value) => shown.Add(value);
    }

    [Fact]
    public async Task A_wrong_token_fails_before_anything_moves_and_the_source_resumes()
    {
        var source = new SimulatedVm(Size).Fill(1, 50);
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        bool created = false;
        var destinationTask = new MigrationDestination().RunAsync(d, "other"u8.ToArray(),
            cfg => { created = true; return new SimulatedVm(Size); }, _ => Task.CompletedTask, null, default);
        await Assert.ThrowsAsync<MigrationException>(() => SendColdAsync(source, s));
        await Assert.ThrowsAnyAsync<MigrationException>(() => destinationTask);
        Assert.False(source.Paused);
        Assert.Equal(0, source.Resumes); // authentication comes before the pause: the VM never stopped
        Assert.False(created);
    }

    [Fact]
    public async Task A_destination_that_dies_mid_transfer_leaves_the_vm_running_at_the_source()
    {
        var source = new SimulatedVm(Size).Fill(2, 1500);
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        // The "destination" authenticates, reads 1 MiB of the image and drops the connection.
        var dying = Task.Run(async () =>
        {
            var channel = new ControlChannel(d);
            await Handshake.AuthenticateAsDestinationAsync(channel, Token, default);
            var buffer = new byte[1 << 20];
            await d.ReadExactlyAsync(buffer);
            d.Dispose();
        });
        await Assert.ThrowsAnyAsync<Exception>(() => SendColdAsync(source, s));
        await dying;
        Assert.False(source.Paused);
        Assert.Equal(1, source.Resumes);
    }

    [Fact]
    public async Task A_destination_that_cannot_build_the_vm_tells_the_source_why_even_while_it_still_writes()
    {
        // 64 MiB of pages: more than the sockets hold, so the source is still writing memory when
        // the destination gives up and closes, and its own error is a broken pipe.
        var source = new SimulatedVm(64 << 20).Fill(3, 16000);
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        // Not a MigrationException: the VMM's own error (an image it cannot open), which the engine does not know.
        var destinationTask = new MigrationDestination().RunAsync(d, Token,
            cfg => throw new InvalidOperationException("disk /images/a.img: no such file"), vm => Task.CompletedTask, null, default);
        var e = await Assert.ThrowsAsync<PeerAbortedException>(() => SendColdAsync(source, s));
        Assert.Equal("disk /images/a.img: no such file", e.Reason);
        await Assert.ThrowsAsync<InvalidOperationException>(() => destinationTask);
        Assert.False(source.Paused);
    }

    [Fact]
    public async Task A_source_that_cannot_resume_after_a_failure_says_the_vm_stays_paused_there()
    {
        var source = new SimulatedVm(Size).Fill(2, 1500);
        source.ResumeFails = new InvalidOperationException("disk /img is in use by another VM");
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        var dying = Task.Run(async () =>
        {
            await Handshake.AuthenticateAsDestinationAsync(new ControlChannel(d), Token, default);
            await d.ReadExactlyAsync(new byte[1 << 20]);
            d.Dispose();
        });
        var e = await Assert.ThrowsAsync<SourceNotResumedException>(() => SendColdAsync(source, s));
        await dying;
        Assert.True(source.Paused);
        Assert.Contains("and the VM could not be resumed here: disk /img is in use by another VM. It stays paused here, whole", e.Message);
        Assert.DoesNotContain("keeps running", e.Message);
    }

    [Fact]
    public async Task Garbage_instead_of_a_migration_is_refused_by_the_destination()
    {
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        await s.WriteAsync(new byte[] { 0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0x54, 0x50, 0x0d, 0x0a, 0x0d, 0x0a });
        s.Close();
        bool created = false;
        await Assert.ThrowsAnyAsync<MigrationException>(() => new MigrationDestination().RunAsync(d, Token,
            cfg => { created = true; return new SimulatedVm(Size); }, _ => Task.CompletedTask, null, default));
        Assert.False(created);
    }

    [Fact]
    public async Task Source_that_commits_but_never_hears_running_holds_the_vm_paused()
    {
        var source = new SimulatedVm(Size).Fill(3, 200);
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        // A destination that takes everything, says Ready, receives Go, and dies before Running.
        var destination = Task.Run(async () =>
        {
            var channel = new ControlChannel(d);
            await Handshake.AuthenticateAsDestinationAsync(channel, Token, default);
            await VmImageReader.ReadAsync(new SectionReader(d), cfg => new SimulatedVm(Size), null, default);
            await channel.SendAsync(MessageType.Ready, default);
            await channel.ExpectAsync(MessageType.Go, TimeSpan.FromSeconds(10), default);
            d.Dispose();
        });
        var outcome = await SendColdAsync(source, s);
        await destination;
        Assert.Equal(MigrationResult.OutcomeUnknown, outcome.Result);
        Assert.True(source.Paused);
        Assert.Equal(0, source.Resumes);
    }

    private static async Task<ControlChannel> FakeSourceUpToReadyAsync(Stream s)
    {
        var vm = new SimulatedVm(Size).Fill(4, 200);
        await vm.PauseAsync(default);
        var channel = new ControlChannel(s);
        await Handshake.AuthenticateAsSourceAsync(channel, Token, MigrationMode.Cold, default);
        await VmImageWriter.WriteAsync(vm, new SectionWriter(s), null, default);
        await channel.ExpectAsync(MessageType.Ready, TimeSpan.FromSeconds(10), default);
        return channel;
    }

    [Fact]
    public async Task Destination_that_is_ready_but_never_hears_go_holds_the_vm_paused()
    {
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        bool ran = false;
        var destination = new MigrationDestination().RunAsync(d, Token, cfg => new SimulatedVm(Size), _ => { ran = true; return Task.CompletedTask; }, null, default);
        await FakeSourceUpToReadyAsync(s);
        s.Dispose(); // the source vanishes before Go
        var (result, vm, _) = await destination;
        Assert.Equal(DestinationResult.AwaitingDecision, result);
        Assert.False(ran);
        Assert.False(((SimulatedVm)vm).Disposed);
    }

    [Fact]
    public async Task Destination_whose_source_goes_silent_after_ready_holds_the_vm_paused_once_the_go_limit_passes()
    {
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        var clock = new FakeTimeProvider();
        bool ran = false;
        var destination = new MigrationDestination { Timeouts = new MigrationTimeouts { Clock = clock } }
            .RunAsync(d, Token, cfg => new SimulatedVm(Size), _ => { ran = true; return Task.CompletedTask; }, null, default);
        await FakeSourceUpToReadyAsync(s); // and then it says nothing, its connection open
        // The destination starts its wait for Go just after sending Ready: step the clock until it gives up.
        for (int i = 0; i < 500 && !destination.IsCompleted; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }
        var (result, vm, detail) = await destination;
        Assert.Equal(DestinationResult.AwaitingDecision, result);
        Assert.Contains("no Go from the peer within 60 s", detail);
        Assert.False(ran);
        Assert.False(((SimulatedVm)vm).Disposed);
        s.Dispose();
    }

    [Fact]
    public async Task Destination_discards_its_copy_when_the_source_aborts_after_ready()
    {
        var (s, d, listener) = await ConnectAsync();
        using var _ = listener;
        SimulatedVm? created = null;
        var destination = new MigrationDestination().RunAsync(d, Token, cfg => created = new SimulatedVm(Size), _ => Task.CompletedTask, null, default);
        var channel = await FakeSourceUpToReadyAsync(s);
        await channel.AbortAsync("changed my mind", default);
        await Assert.ThrowsAsync<MigrationException>(() => destination);
        Assert.True(created!.Disposed);
    }
}
