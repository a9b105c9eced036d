using System.Diagnostics;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.Switchover;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Destination;

/// <summary>
/// The destination of any migration (cold or live): read and verify everything into a new, not
/// yet running VM, over one or more authenticated streams; say Ready; run the VM only on Go.
/// A failure before Ready discards the VM; after Ready the VM is kept, paused, because the
/// source may already have committed.
/// </summary>
public sealed class MigrationDestination
{
    public static readonly TimeSpan GoTimeout = TimeSpan.FromSeconds(60);
    /// <summary>A source that sends nothing for this long during the transfer is given up on.</summary>
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>One connection: authenticates it first (single-stream migrations and tests).</summary>
    public async Task<(DestinationResult Result, IMigratableVm Vm, string Detail)> RunAsync(Stream stream, byte[] token,
        Func<ReadOnlyMemory<byte>, IMigratableVm> createVm, Func<IMigratableVm, Task> runVm, IProgress<ImageProgress>? progress,
        CancellationToken cancellationToken)
    {
        var hello = await Handshake.AuthenticateAsDestinationAsync(new ControlChannel(stream), token, cancellationToken);
        if (hello.Count != 1) throw new ProtocolException($"the source wants {hello.Count} streams; this receiver takes one");
        return await RunAsync([stream], createVm, runVm, progress, cancellationToken);
    }

    /// <summary>
    /// Receives one VM over streams already authenticated (stream 0 first). <paramref name="createVm"/>
    /// builds a VM from the configuration section; <paramref name="runVm"/> starts it when Go
    /// arrives. The returned VM is the caller's.
    /// </summary>
    public async Task<(DestinationResult Result, IMigratableVm Vm, string Detail)> RunAsync(IReadOnlyList<Stream> streams,
        Func<ReadOnlyMemory<byte>, IMigratableVm> createVm, Func<IMigratableVm, Task> runVm, IProgress<ImageProgress>? progress,
        CancellationToken cancellationToken)
    {
        // Sections are read straight from the sockets: with a stream per core the streams overlap
        // one another, and a read-ahead would cost a copy of every byte. A section reader never
        // reads past its section, so control messages on stream 0 are never stolen.
        var channel = new ControlChannel(streams[0]);
        var created = new TaskCompletionSource<IMigratableVm>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        IMigratableVm? vm = null;
        IMigratableVm received;
        try
        {
            var rounds = new RoundAcknowledgements(channel, streams.Count);
            var primary = VmImageReader.ReadPrimaryAsync(new SectionReader(streams[0]) { StallTimeout = StallTimeout }, createVm, v => { vm = v; created.TrySetResult(v); }, progress,
                round => rounds.StreamFinishedAsync(round, failed.Token), failed.Token);
            var others = streams.Skip(1).Select(s => VmImageReader.ReadMemoryStreamAsync(new SectionReader(s) { StallTimeout = StallTimeout }, created.Task,
                round => rounds.StreamFinishedAsync(round, failed.Token), failed.Token)).ToList();
            // The first stream to fail stops the others, so none waits on a peer that is gone.
            var all = others.Prepend((Task)primary).Select(t => t.ContinueWith(x => { if (!x.IsCompletedSuccessfully) failed.Cancel(); }, TaskScheduler.Default)).ToArray();
            await Task.WhenAll(all);
            created.TrySetCanceled();
            await FirstErrorAsync(primary, others);
            var image = primary.Result;
            if (image.MemoryDigest is { } expected && MemoryDigest.Compute(image.Vm) != expected)
                throw new MigrationException("guest memory differs from the source's after the transfer (memory digest mismatch)");
            image.Vm.LoadState(image.DeviceState);
            received = image.Vm;
        }
        catch (Exception e) when (e is MigrationException or IOException or InvalidDataException or OperationCanceledException)
        {
            (vm as IDisposable)?.Dispose();
            if (e is not PeerAbortedException)
                try { await channel.AbortAsync(e.Message, ControlChannel.AbortTimeout()); } catch (Exception) { /* the link may be gone */ }
            // Closing tells the source at once, on every stream, instead of leaving it to time out.
            await QuietDispose.AllAsync(streams);
            if (e is IOException or InvalidDataException) throw new MigrationException($"the transfer from the source broke: {e.Message}", e);
            throw;
        }

        try
        {
            await channel.SendAsync(MessageType.Ready, CancellationToken.None);
            await channel.ExpectAsync(MessageType.Go, GoTimeout, CancellationToken.None);
        }
        catch (PeerAbortedException e)
        {
            // The source says it did not commit and runs the VM itself: our copy must go.
            (received as IDisposable)?.Dispose();
            throw new MigrationException($"the source aborted after this side was ready: {e.Reason}");
        }
        catch (Exception e)
        {
            return (DestinationResult.AwaitingDecision, received, e.Message);
        }
        long goAt = Stopwatch.GetTimestamp();
        await runVm(received);
        try { await channel.SendAsync(MessageType.Running, SwitchoverHandshake.RunningPayload(Stopwatch.GetElapsedTime(goAt)), CancellationToken.None); }
        catch (Exception) { /* the source will report the outcome as unknown; the VM runs here either way */ }
        return (DestinationResult.Running, received, "running");
    }

    /// <summary>Rethrows the error that stopped the transfer: a real one, not the cancellations it caused.</summary>
    private static async Task FirstErrorAsync(Task primary, List<Task> others)
    {
        var faulted = others.Prepend(primary).Where(t => t.IsFaulted).ToList();
        var cause = faulted.FirstOrDefault(t => t.Exception!.InnerException is not OperationCanceledException) ?? faulted.FirstOrDefault();
        if (cause is not null) await cause;
        if (primary.IsCanceled || others.Any(t => t.IsCanceled)) await Task.WhenAll(others.Prepend(primary));
    }
}

/// <summary>Counts, per live round, the streams that applied it; when all have, tells the source (RoundApplied).</summary>
internal sealed class RoundAcknowledgements(ControlChannel channel, int streams)
{
    private readonly Dictionary<int, int> _finished = [];
    private readonly SemaphoreSlim _send = new(1, 1);

    public async Task StreamFinishedAsync(int round, CancellationToken cancellationToken)
    {
        lock (_finished)
        {
            _finished[round] = _finished.GetValueOrDefault(round) + 1;
            if (_finished[round] < streams) return;
            _finished.Remove(round);
            if (_finished.Count > 64) throw new ProtocolException("the source's streams disagree about the rounds");
        }
        var payload = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)round);
        await _send.WaitAsync(cancellationToken);
        try { await channel.SendAsync(MessageType.RoundApplied, payload, cancellationToken); }
        finally { _send.Release(); }
    }
}
