using System.Net.Sockets;
using Ferry.Api;
using Ferry.Migration;
using Ferry.Migration.Destination;
using Ferry.Migration.Image;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;

namespace Ferry.Vmm.Operations;

/// <summary>
/// The destination side of a migration, run in the receiving VMM's process as its operation (kind
/// "receive", served by the API from the start): listen, accept the source's streams, let the
/// engine read the VM into a new KvmVm, and hand it over once it runs (or is held, when the word to
/// run never came). After a post-copy switchover it goes on while the VM's remaining pages arrive,
/// and ends the VM as lost if the source goes away first.
/// Cancelling works until this side says Ready (the source then keeps its VM); from Ready on the
/// source may commit at any moment, so a cancel is refused.
/// </summary>
public sealed class ReceiveOperation : IAsyncDisposable
{
    public const string Kind = "receive";

    private readonly ReceivePlan _plan;
    private readonly TcpListener _listener;
    private readonly TaskCompletionSource<ReceivedVm> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private AcceptedMigration? _accepted;

    private ReceiveOperation(ReceivePlan plan, TcpListener listener)
    {
        _plan = plan;
        _listener = listener;
    }

    /// <summary>Something worth a line to whoever runs this VMM (post-copy complete, the VM lost).</summary>
    public Action<string>? Notify { get; init; }

    /// <summary>
    /// Called with the VM's configuration (its name settled) before the VM is created, by a caller
    /// that serves the VM's API itself (else this operation binds the socket, in
    /// <see cref="ReceivedVm.Socket"/>). Throwing fails the migration before its commit, and the
    /// source keeps its VM.
    /// </summary>
    public Action<VmConfig>? Configured { get; init; }

    /// <summary>Completes with the VM once it runs here (or is held); fails as the receive does (cancelled: <see cref="OperationCanceledException"/>).</summary>
    public Task<ReceivedVm> Received => _received.Task;

    /// <summary>Starts listening; an address that cannot be had fails here, before anything else.</summary>
    public static ReceiveOperation Listen(ReceivePlan plan, Action<string>? notify = null, Action<VmConfig>? configured = null)
    {
        var listener = new TcpListener(plan.Address, plan.Port);
        try { listener.Start(Handshake.MaxStreams); }
        catch (SocketException e) { throw new VmConfigException($"cannot listen on {plan.Listen}: {e.Message}"); }
        return new ReceiveOperation(plan, listener) { Notify = notify, Configured = configured };
    }

    /// <summary>
    /// The whole receive as the VMM's operation: until the VM runs here (<see cref="Received"/>),
    /// then, after a post-copy switchover, until every page is here.
    /// </summary>
    public async Task<OperationStatus> RunAsync(Action<ReadOnlySpan<byte>> console, OperationTracker.OperationProgress progress, CancellationToken cancellationToken)
    {
        ReceivedVm received;
        try
        {
            received = await ReceiveAsync(console, progress, cancellationToken);
        }
        catch (Exception e)
        {
            _received.TrySetException(e);
            return new OperationStatus(Kind, OperationStatus.Failed, 0, 0, 0, e is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? CancelledMessage : $"the receive failed: {e.Message.TrimEnd('.')}; the VM keeps running at its source", null);
        }
        _received.TrySetResult(received);
        var outcome = received.Outcome;
        if (outcome.Result == DestinationResult.Running && outcome.PostCopy is not null)
        {
            progress.RefuseCancel("the migration has committed: the VM runs here while its memory arrives from the source, and cannot go back; " +
                                  "wait until ferry migrate-status says post-copy is complete");
            return await WatchPostCopyAsync(received, progress);
        }
        if (outcome.Result == DestinationResult.Running)
        {
            progress.RefuseCancel("the migration has committed: the VM runs here and this VMM owns it; there is no receive left to cancel");
            return new OperationStatus(Kind, OperationStatus.Completed, 0, 0, 0, "the VM runs here", null);
        }
        progress.RefuseCancel("the receive has ended: the VM is held paused here because the source never said to run it (see ferry status)");
        return new OperationStatus(Kind, OperationStatus.OutcomeUnknown, 0, 0, 0, $"held paused here: {HeldReason(outcome)}", null);
    }

    public const string CancelledMessage = "the receive was cancelled before its commit: the VM keeps running at its source";

    /// <summary>Why a VM whose Go never came is held here.</summary>
    public static string HeldReason(DestinationOutcome outcome) => $"the source never said to run it ({outcome.Detail}); it may still run there";

    /// <summary>
    /// Waits for the source, receives the VM and returns it, running (or held paused, when Ready
    /// was said but Go never came). A failure before then leaves nothing behind here.
    /// </summary>
    public async Task<ReceivedVm> ReceiveAsync(Action<ReadOnlySpan<byte>> console, OperationTracker.OperationProgress? progress, CancellationToken cancellationToken)
    {
        // What the API shows: the step, and what has arrived (kept across steps).
        string? mode = null;
        long pageSize = 0;
        ImageProgress figures = default;
        var gate = new object();
        void Step(string step, ImageProgress? now = null)
        {
            if (progress is null) return;
            lock (gate)
            {
                figures = now ?? figures;
                long size = Volatile.Read(ref pageSize);
                progress.Report(new ReceiveProgress(step, mode, size == 0 ? 0 : figures.MemoryBytesDone / size, true), figures);
            }
        }
        Step($"waiting for the source on {_plan.Listen}");
        var accepted = _accepted = await MigrationListener.AcceptAsync(_listener, _plan.Token, _plan.Tls, cancellationToken);
        mode = accepted.Mode.Name();
        Step("receiving");
        // A post-copy source whose link breaks comes back here: keep listening until every page is in.
        if (!accepted.Mode.MayPostCopy()) _listener.Stop();

        ApiSocket? socket = null;
        // --copy-storage: the source announces its disks before the configuration, and this side makes the images.
        IReadOnlyList<long>? copiedSizes = null;
        var copied = new CopiedDiskImages();
        try
        {
            var destination = new MigrationDestination
            {
                RecoveryTimeout = _plan.RecoveryTimeout,
                AcceptReconnection = async accept =>
                {
                    var again = await MigrationListener.AcceptAsync(_listener, _plan.Token, _plan.Tls, accept);
                    if (again.Session == accepted.Session) return again;
                    foreach (var stream in again.Streams) await stream.DisposeAsync();
                    throw new MigrationException("a connection of another migration was refused while post-copy waits for its source");
                },
                DisksArriving = sizes =>
                {
                    copiedSizes = sizes;
                    Step("receiving the VM and its disks");
                },
                BeforeReady = () =>
                {
                    progress?.RefuseCancel("too late to cancel: the VM has arrived and this side has told the source it is ready, so the source " +
                                           "may already have committed to it; this VMM owns the VM from here (see ferry migrate-status)");
                    Step("ready: waiting for the source's word to run the VM here");
                },
            };
            var pages = new PageProgress(now => Step("receiving", now));
            var outcome = await destination.RunAsync(accepted,
                configuration =>
                {
                    var config = VmConfigJson.Decode(configuration.Span);
                    if (_plan.MapConfig is { } map) config = map(config);
                    if (_plan.Name is { } newName) config = config with { Name = newName };
                    else VmName.Check(config.Name, "the migration's configuration");
                    // Bound before the VM exists: a socket that cannot work fails the migration before its commit.
                    if (Configured is null) socket = ApiSocket.Bind(_plan.ApiSocketPath ?? ApiSocketPaths.ForName(config.Name));
                    else Configured(config);
                    if (copiedSizes is { } sizes) copied.Prepare(config, sizes);
                    var created = KvmVm.CreateForRestore(config, console);
                    if (copiedSizes is not null)
                    {
                        // Copied images are this VM's own from the start: nobody else may open them for writing.
                        try { created.LockDisks(); }
                        catch { created.Dispose(); throw; }
                    }
                    Volatile.Write(ref pageSize, ((Migration.Vm.IMigratableVm)created).Memory.PageSize);
                    return created;
                },
                vm =>
                {
                    Step("the source committed: starting the VM here");
                    var running = (KvmVm)vm;
                    running.Start();
                    // The guest's MAC now sits behind this host's tap: tell the network at once.
                    _ = running.AnnounceAsync(CancellationToken.None);
                    return Task.CompletedTask;
                },
                pages, cancellationToken);
            Step(outcome.Result == DestinationResult.Running ? "running" : "held paused");
            var received = new ReceivedVm((KvmVm)outcome.Vm, socket, outcome);
            socket = null; // the caller serves it now
            if (outcome.PostCopy is { } postCopy) _ = postCopy.ContinueWith(_ => _listener.Stop(), TaskScheduler.Default);
            return received;
        }
        catch
        {
            copied.DeleteCreated(); // the VM was discarded: a partial copy must not be taken for an image
            throw;
        }
        finally
        {
            socket?.Dispose(); // the migration failed before a VM was served on it
        }
    }

    /// <summary>
    /// A post-copy destination's incoming pages as the VM process's operation: progress for
    /// `ferry migrate-status` here, and the end of the VM if the source goes away first.
    /// </summary>
    public async Task<OperationStatus> WatchPostCopyAsync(ReceivedVm received, OperationTracker.OperationProgress? progress)
    {
        var vm = received.Vm;
        var postCopy = received.Outcome.PostCopy!;
        var receiver = received.Outcome.PostCopyReceiver!;
        var cpuBefore = VmmCpuTime.Now();
        long pageSize = ((Migration.Vm.IMigratableVm)vm).Memory.PageSize;
        while (!postCopy.IsCompleted)
        {
            string phase = receiver.LinkDown is { } why ? $"post-copy paused: {why}; waiting for the source to reconnect" : "post-copy";
            progress?.Report(new MigrationProgress(phase, 0, 0, receiver.RemainingPages * pageSize, 0, 0, TimeSpan.Zero, 0)
            {
                PostCopy = new PostCopyProgress(receiver.RemainingPages, receiver.PagesByRequest, receiver.PagesByPush),
            });
            await Task.WhenAny(postCopy, Task.Delay(100));
        }
        try
        {
            var figures = await postCopy;
            string disks = receiver.Disks is { } d
                ? $"; and every disk block: {d.BlocksByPush} pushed, {d.BlocksByRequest} fetched for the guest's reads and partial writes, {d.BlocksTakenByGuest} overwritten whole by the guest first"
                : "";
            Notify?.Invoke($"{vm.Config.Name}: post-copy complete: every page is here " +
                           $"({figures.PagesByPush} pushed, {figures.PagesByRequest} fetched on {figures.Faults} faults, fault latency p50 {figures.LatencyP50.TotalMicroseconds:F0} µs{disks}; " +
                           $"VMM CPU outside the vCPUs since the resume {(VmmCpuTime.Now() - cpuBefore).TotalMilliseconds:F0} ms)");
            return new OperationStatus(Kind, OperationStatus.Completed, 0, 0, 0, "post-copy complete: every page is here", null);
        }
        catch (Exception e)
        {
            // The pages still missing existed only at the source: running on would read holes.
            string why = $"the VM is lost: {e.Message}. The pages it still lacked were only at the source, so it cannot run on";
            Notify?.Invoke($"{vm.Config.Name}: {why}");
            vm.End(new VmExit(VmExitKind.Lost, why));
            return new OperationStatus(Kind, OperationStatus.Failed, 0, 0, 0, why, null);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        if (_accepted is { } accepted)
            foreach (var stream in accepted.Streams) await stream.DisposeAsync();
    }
}

/// <summary>Hands the engine's reports on at once, on the reporting thread (System.Progress would post them, out of order).</summary>
file sealed class PageProgress(Action<ImageProgress> report) : IProgress<ImageProgress>
{
    public void Report(ImageProgress value) => report(value);
}

/// <summary>A VM a receive brought here, how the migration ended, and the control socket bound for it if this operation bound one.</summary>
public sealed record ReceivedVm(KvmVm Vm, ApiSocket? Socket, DestinationOutcome Outcome);
