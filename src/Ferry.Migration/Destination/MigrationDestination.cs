using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.PostCopy;
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
    /// <summary>The protocol's time limits and the clock they run on.</summary>
    public MigrationTimeouts Timeouts { get; init; } = MigrationTimeouts.Default;
    private TimeProvider Clock => Timeouts.Clock;

    /// <summary>
    /// Post-copy: accepts the source's streams again after the link broke (the caller's listener,
    /// authenticated, this session only). Null: a broken link loses the VM at once.
    /// </summary>
    public Func<CancellationToken, Task<AcceptedMigration>>? AcceptReconnection { get; init; }

    /// <summary>Post-copy: how long to wait for the source to come back before the VM is given up as lost.</summary>
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Called once the VM is whole and its state loaded, just before Ready is said: from Ready on
    /// the source may commit, so whoever can cancel this run must stop accepting that here. The
    /// token is checked once more right after, so a cancel either lands before (the source is told
    /// and keeps its VM) or is refused.
    /// </summary>
    public Action? BeforeReady { get; init; }

    /// <summary>
    /// `--copy-storage`: called with the sizes of the disks the source copies, before the VM is
    /// created from the configuration, so the caller can make the images it will be built on.
    /// Null: a source that copies its disks is refused (this receiver only shares storage).
    /// </summary>
    public Action<IReadOnlyList<long>>? DisksArriving { get; init; }

    /// <summary>One connection: authenticates it first (single-stream migrations and tests).</summary>
    public async Task<DestinationOutcome> RunAsync(Stream stream, byte[] token,
        Func<ReadOnlyMemory<byte>, IMigratableVm> createVm, Func<IMigratableVm, Task> runVm, IProgress<ImageProgress>? progress,
        CancellationToken cancellationToken)
    {
        var hello = await Handshake.AuthenticateAsDestinationAsync(new ControlChannel(stream, Clock), token, cancellationToken, Timeouts);
        if (hello.Count != 1) throw new ProtocolException($"the source wants {hello.Count} streams; this receiver takes one");
        if (hello.Mode.MayPostCopy()) throw new ProtocolException("a post-copy migration needs a fault stream; this receiver takes one stream");
        return await RunAsync(new AcceptedMigration(hello.Mode, [stream]) { Version = hello.Version }, createVm, runVm, progress, cancellationToken);
    }

    /// <summary>
    /// Receives one VM over streams already authenticated (stream 0 first; in a mode that may
    /// post-copy, the last is the fault stream). <paramref name="createVm"/> builds a VM from the
    /// configuration section; <paramref name="runVm"/> starts it when Go arrives. The returned VM
    /// is the caller's; after a post-copy switchover its memory is still arriving
    /// (<see cref="DestinationOutcome.PostCopy"/>).
    /// </summary>
    public async Task<DestinationOutcome> RunAsync(AcceptedMigration accepted,
        Func<ReadOnlyMemory<byte>, IMigratableVm> createVm, Func<IMigratableVm, Task> runVm, IProgress<ImageProgress>? progress,
        CancellationToken cancellationToken)
    {
        bool mayPostCopy = accepted.Mode.MayPostCopy();
        if (mayPostCopy && accepted.Streams.Count < 2) throw new ProtocolException("a post-copy migration needs a fault stream besides its data streams");
        var streams = mayPostCopy ? accepted.Streams.Take(accepted.Streams.Count - 1).ToList() : accepted.Streams;
        var faultStream = mayPostCopy ? accepted.Streams[^1] : null;
        // Sections are read straight from the sockets: with a stream per core the streams overlap
        // one another, and a read-ahead would cost a copy of every byte. A section reader never
        // reads past its section, so control messages on stream 0 are never stolen.
        var channel = new ControlChannel(streams[0], Clock);
        var readers = streams.Select(NewReader).ToArray();
        var created = new TaskCompletionSource<IMigratableVm>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        IMigratableVm? vm = null;
        IMigratableVm received;
        IMissingPages? missing = null;
        PostCopyReceiver? postCopy = null;
        Storage.PostCopyDiskBlocks? diskBlocks = null;
        IReadOnlyList<long>? diskSizes = null;
        try
        {
            // Copied disks reach stable storage as each round is applied, so the sync before Ready
            // (inside the downtime) covers only the blocks of the last round and the stop-and-copy.
            var rounds = new RoundAcknowledgements(channel, streams.Count, () =>
            {
                if (Volatile.Read(ref diskSizes) is not null && vm is IMigratableDisks copied)
                    foreach (var disk in copied.Disks) disk.Flush();
            });
            var primary = VmImageReader.ReadPrimaryAsync(readers[0], createVm, v => { vm = v; created.TrySetResult(v); }, progress,
                round => rounds.StreamFinishedAsync(round, failed.Token),
                DisksArriving is { } arriving && accepted.Version >= 4 ? sizes => { diskSizes = sizes; arriving(sizes); } : null, failed.Token);
            // Stream 0 announces copied disks before the VM exists, and the others wait for the VM.
            var others = readers.Skip(1).Select(r => VmImageReader.ReadMemoryStreamAsync(r, created.Task,
                round => rounds.StreamFinishedAsync(round, failed.Token), () => Volatile.Read(ref diskSizes), failed.Token)).ToList();
            // The first stream to fail stops the others, so none waits on a peer that is gone.
            var all = others.Prepend((Task)primary).Select(t => t.ContinueWith(x => { if (!x.IsCompletedSuccessfully) failed.Cancel(); }, TaskScheduler.Default)).ToArray();
            await Task.WhenAll(all);
            created.TrySetCanceled();
            await FirstErrorAsync(primary, others);
            var image = primary.Result;
            // The copied images reach stable storage before this side says Ready: after the
            // commit the source's copy is gone, so this one must survive a crash here.
            foreach (var disk in image.Disks ?? []) disk.Flush();
            if (image.PostCopyPages is { } fetch)
            {
                if (faultStream is null) throw new ProtocolException("unexpected post-copy pages section in a migration without a fault stream");
                var target = image.Vm as IPostCopyTarget ?? throw new MigrationException("this VM cannot run before its memory has arrived (post-copy)");
                // Armed before the state loads: from here on any touch of a missing page is served.
                // Only a hybrid sent pages before the switchover; a pure post-copy's RAM is untouched.
                missing = target.ArmMissingPages(fetch, dropStaleCopies: accepted.Mode == MigrationMode.Hybrid);
                if (image.PostCopyDiskBlocks is { } blocks) diskBlocks = new Storage.PostCopyDiskBlocks(image.Disks!, image.DiskSizes!, blocks);
                postCopy = new PostCopyReceiver(missing, image.Vm.Memory, fetch, faultStream, Clock, diskBlocks) { ExpectedDigest = image.MemoryDigest };
                // Copied disks' missing blocks: the gates go on (wired to the fault stream) before the VM can issue a request.
                diskBlocks?.Arm();
                postCopy.PrepareDigest(image.Vm);
                postCopy.Start();
            }
            else if (image.MemoryDigest is { } expected && MemoryDigest.Compute(image.Vm) != expected)
                throw new MigrationException("guest memory differs from the source's after the transfer (memory digest mismatch)");
            image.Vm.LoadState(image.DeviceState);
            received = image.Vm;
            BeforeReady?.Invoke();
            cancellationToken.ThrowIfCancellationRequested();
        }
        // Any failure before Ready, also the VM's own (an image it cannot open or lock, from createVm
        // or LoadState): the VM is discarded and the source told why, so it runs on with a reason.
        catch (Exception e)
        {
            if (postCopy is not null) await postCopy.DisposeAsync();
            missing?.Dispose();
            diskBlocks?.Disarm();
            (vm as IDisposable)?.Dispose();
            if (e is not PeerAbortedException)
                await channel.TryAbortAsync(e is OperationCanceledException && cancellationToken.IsCancellationRequested
                    ? "the migration was cancelled at the destination" : e.Message, Timeouts.Abort);
            // Closing tells the source at once, on every stream, instead of leaving it to time out.
            await QuietDispose.AllAsync(accepted.Streams);
            if (e is IOException or InvalidDataException) throw new MigrationException($"the transfer from the source broke: {e.Message}", e);
            throw;
        }

        try
        {
            await channel.SendAsync(MessageType.Ready, CancellationToken.None);
            await channel.ExpectAsync(MessageType.Go, Timeouts.Go, CancellationToken.None);
        }
        catch (PeerAbortedException e)
        {
            // The source says it did not commit and runs the VM itself: our copy must go.
            if (postCopy is not null) await postCopy.DisposeAsync();
            missing?.Dispose();
            diskBlocks?.Disarm();
            (received as IDisposable)?.Dispose();
            throw new MigrationException($"the source aborted after this side was ready: {e.Reason}");
        }
        catch (Exception e)
        {
            return new DestinationOutcome(DestinationResult.AwaitingDecision, received, e.Message);
        }
        long goAt = Clock.GetTimestamp();
        await runVm(received);
        postCopy?.Resumed();
        try { await channel.SendAsync(MessageType.Running, SwitchoverHandshake.RunningPayload(Clock.GetElapsedTime(goAt)), CancellationToken.None); }
        catch (Exception) { /* the source will report the outcome as unknown; the VM runs here either way */ }
        if (postCopy is null) return new DestinationOutcome(DestinationResult.Running, received, "running");
        return new DestinationOutcome(DestinationResult.Running, received, "running; its memory is still arriving (post-copy)")
        {
            PostCopy = FinishPostCopyAsync(postCopy, missing!, readers, channel, accepted.Streams),
            PostCopyReceiver = postCopy,
        };
    }

    /// <summary>
    /// Receives the pushed pages until every page is here, then disarms the fault path and tells
    /// the source. A broken link waits for the source to come back (<see cref="AcceptReconnection"/>),
    /// up to <see cref="RecoveryTimeout"/>, as often as it breaks.
    /// </summary>
    private async Task<PostCopyFigures> FinishPostCopyAsync(PostCopyReceiver postCopy, IMissingPages missing, SectionReader[] readers,
        ControlChannel channel, IReadOnlyList<Stream> streams)
    {
        try
        {
            while (true)
            {
                var linkLost = postCopy.LinkLost;
                var pushes = readers.Select(r => postCopy.ReceivePushAsync(r, CancellationToken.None)).ToList();
                var pushed = Task.WhenAll(pushes).ContinueWith(t => { if (t.IsCompletedSuccessfully) postCopy.PushEnded(); }, TaskScheduler.Default);
                if (await Task.WhenAny(postCopy.Completion, linkLost) == postCopy.Completion)
                {
                    await postCopy.Completion;
                    await postCopy.DisposeAsync();
                    var figures = postCopy.Figures(missing.ThreadName);
                    // Every page is present: faults on the rest (never touched anywhere) are the kernel's again.
                    missing.Dispose();
                    if (postCopy.Disks is { } disks)
                    {
                        // Every block too: the copy reaches stable storage before the source lets go of its image.
                        disks.Disarm();
                        disks.Flush();
                    }
                    postCopy.VerifyDigest();
                    try { await channel.SendAsync(MessageType.PostCopyDone, figures.Encode(), CancellationToken.None); }
                    catch (Exception) { /* the VM is whole here; a source that misses this holds its copy paused */ }
                    try { await pushed; } catch (Exception) { }
                    return figures;
                }
                string why = await linkLost;
                await QuietDispose.AllAsync(streams);
                try { await pushed; } catch (Exception) { /* the streams are closed */ }
                if (AcceptReconnection is null) throw new MigrationException($"the link to the source broke during post-copy ({why})");
                while (true)
                {
                    var accepted = await ReconnectAsync(why);
                    streams = accepted.Streams;
                    try
                    {
                        // Tell the source what is still missing here; it sends those pages again from scratch.
                        var writer = new SectionWriter(streams[0]);
                        await writer.WriteAsync(SectionType.PostCopyPages, PostCopyPages.Encode(postCopy.StillMissing()), CancellationToken.None);
                        if (postCopy.Disks is { } disks)
                            await writer.WriteAsync(SectionType.PostCopyDiskBlocks, disks.EncodeStillMissing(), CancellationToken.None);
                        break;
                    }
                    catch (IOException e)
                    {
                        // The link broke again before the transfer could go on: wait for the next attempt.
                        why = $"the link broke again during the reconnection: {e.Message}";
                        await QuietDispose.AllAsync(streams);
                    }
                }
                var bulk = streams.Take(streams.Count - 1).ToList();
                channel = new ControlChannel(bulk[0], Clock);
                readers = [.. bulk.Select(NewReader)];
                postCopy.Reattach(streams[^1]);
            }
        }
        catch (Exception e)
        {
            postCopy.GiveUp(e is MigrationException ? e : new MigrationException(e.Message, e));
            await postCopy.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits for the source's streams again; past the recovery timeout the VM is lost.</summary>
    private async Task<AcceptedMigration> ReconnectAsync(string why)
    {
        using var deadline = Timeouts.After(RecoveryTimeout);
        while (true)
        {
            try { return await AcceptReconnection!(deadline.Token); }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new MigrationException($"the link to the source broke during post-copy ({why}) and the source did not come back within {RecoveryTimeout.TotalSeconds:0} s");
            }
            catch (MigrationException) when (!deadline.IsCancellationRequested)
            {
                // A connection that failed its handshake, or belongs to another migration: wait for the next.
            }
        }
    }

    /// <summary>A source that sends nothing for Timeouts.DestinationStall during the transfer is given up on.</summary>
    private SectionReader NewReader(Stream stream) => new(stream) { StallTimeout = Timeouts.DestinationStall, Clock = Clock };

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
/// <param name="applied">Runs once a round is in on every stream, before RoundApplied is sent.</param>
internal sealed class RoundAcknowledgements(ControlChannel channel, int streams, Action? applied = null)
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
        applied?.Invoke();
        var payload = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)round);
        await _send.WaitAsync(cancellationToken);
        try { await channel.SendAsync(MessageType.RoundApplied, payload, cancellationToken); }
        finally { _send.Release(); }
    }
}

/// <summary>
/// How a destination's run ended, with the VM (the caller's). After a post-copy switchover the VM
/// runs while its memory still arrives: <see cref="PostCopy"/> completes once every page is here
/// and fails if the source can no longer be reached (the VM then cannot go on).
/// </summary>
public sealed record DestinationOutcome(DestinationResult Result, IMigratableVm Vm, string Detail)
{
    public Task<PostCopyFigures>? PostCopy { get; init; }
    /// <summary>The post-copy phase in progress, for status displays.</summary>
    public PostCopyReceiver? PostCopyReceiver { get; init; }
}
