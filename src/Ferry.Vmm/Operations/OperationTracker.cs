using Ferry.Migration.Image;
using Ferry.Migration.Reporting;
using Ferry.Api;

namespace Ferry.Vmm.Operations;

/// <summary>
/// Runs at most one long operation at a time in the background and keeps its status for the
/// API, so a client can start it, watch its progress and read its outcome.
/// </summary>
public sealed class OperationTracker
{
    private readonly object _lock = new();
    private OperationStatus? _status;
    private CancellationTokenSource? _cancel;
    private string? _cancelRefusal;

    private TaskCompletionSource _finalStatusRead = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public OperationStatus? Status { get { lock (_lock) return _status; } }

    /// <summary>
    /// Completes once a client has read the finished status of the latest operation: a migrated
    /// VM's process lingers for it. Each operation has its own (a received VM that moves on must
    /// not take the receive's read for its migration's).
    /// </summary>
    public Task FinalStatusRead { get { lock (_lock) return _finalStatusRead.Task; } }

    /// <summary>Called once a finished status was delivered to a client.</summary>
    public void MarkFinalStatusRead()
    {
        lock (_lock) _finalStatusRead.TrySetResult();
    }

    /// <summary>Starts <paramref name="work"/>; it reports progress and returns the final status. Refuses while another runs.</summary>
    public void Start(string kind, Func<OperationProgress, CancellationToken, Task<OperationStatus>> work)
    {
        var cancel = new CancellationTokenSource();
        lock (_lock)
        {
            if (_status is { Finished: false }) throw new InvalidOperationException($"a {_status.Kind} is already in progress");
            _status = new OperationStatus(kind, OperationStatus.Running, 0, 0, 0, "starting", null);
            _cancel = cancel;
            _cancelRefusal = null;
            _finalStatusRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        var progress = new OperationProgress(this, kind);
        _ = Task.Run(async () =>
        {
            OperationStatus final;
            try { final = await work(progress, cancel.Token); }
            catch (Exception e) { final = new OperationStatus(kind, OperationStatus.Failed, 0, 0, 0, e.Message, null); }
            lock (_lock) _status = final;
        });
    }

    /// <summary>
    /// Asks the running operation to stop. Whether it can depends on how far it got: a committed
    /// migration cannot, and a receive past its Ready refuses (<see cref="OperationProgress.RefuseCancel"/>).
    /// </summary>
    public void Cancel()
    {
        lock (_lock)
        {
            // A refusal outlives its operation: a finished receive says why, not just that nothing runs.
            if (_cancelRefusal is { } refusal) throw new InvalidOperationException(refusal);
            if (_status is not { Finished: false } || _cancel is null) throw new InvalidOperationException("no snapshot or migration is in progress");
            _cancel.Cancel();
        }
    }

    /// <summary>Turns the engine's progress reports into the status the API shows.</summary>
    public sealed class OperationProgress(OperationTracker tracker, string kind) : IProgress<ImageProgress>, IProgress<MigrationProgress>
    {
        /// <summary>
        /// From now on a cancel is refused with <paramref name="reason"/> (a receive past its Ready).
        /// Atomic with <see cref="Cancel"/>: a cancel that came first has already cancelled the token.
        /// </summary>
        public void RefuseCancel(string reason)
        {
            lock (tracker._lock) tracker._cancelRefusal = reason;
        }

        /// <summary>A receive's step and what has arrived so far.</summary>
        public void Report(ReceiveProgress value, ImageProgress figures)
        {
            lock (tracker._lock)
                if (tracker._status is { Finished: false })
                    tracker._status = new OperationStatus(kind, OperationStatus.Running, figures.MemoryBytesDone, figures.MemoryBytesTotal,
                        figures.BytesTransferred, value.Step, null) { Receive = value with { Cancellable = tracker._cancelRefusal is null } };
        }

        public void Report(ImageProgress value)
        {
            lock (tracker._lock)
                if (tracker._status is { Finished: false })
                    tracker._status = new OperationStatus(kind, OperationStatus.Running, value.MemoryBytesDone, value.MemoryBytesTotal, value.BytesTransferred, "transferring", null);
        }

        public void Report(MigrationProgress value)
        {
            var live = new LiveProgress(value.Phase, value.Round, value.RemainingBytes, value.DirtyPagesPerSecond, value.BandwidthBytesPerSecond,
                value.ExpectedDowntime == TimeSpan.MaxValue ? -1 : value.ExpectedDowntime.TotalMilliseconds, value.ThrottlePercent)
            {
                PagesAtSource = value.PostCopy?.PagesAtSource,
                PagesRequested = value.PostCopy?.PagesRequested,
                PagesPushed = value.PostCopy?.PagesPushed,
                DiskBytesSent = value.Disk?.BytesSent,
                DiskBlocksResent = value.Disk?.BlocksResent,
                DiskBytesPending = value.Disk?.PendingBytes,
            };
            lock (tracker._lock)
                if (tracker._status is { Finished: false })
                    tracker._status = new OperationStatus(kind, OperationStatus.Running, 0, 0, value.BytesTransferred, value.Phase, null) { Live = live };
        }
    }
}
