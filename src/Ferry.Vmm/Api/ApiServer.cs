using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Api;

namespace Ferry.Vmm.Api;

/// <summary>
/// The VM's control API: JSON over HTTP on a Unix socket, one per VM process.
/// GET /vm (status), PUT /vm/pause, PUT /vm/resume, PUT /vm/stop.
/// </summary>
public sealed class ApiServer : IAsyncDisposable
{
    private readonly KvmVm _vm;
    private readonly ApiSocket _socket;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly Operations.OperationTracker _operations = new();
    private readonly List<Task> _inFlight = [];

    private ApiServer(KvmVm vm, ApiSocket socket)
    {
        _vm = vm;
        _socket = socket;
        _listener = socket.Listener;
        _acceptLoop = AcceptLoopAsync(_stop.Token);
    }

    public string SocketPath => _socket.Path;

    /// <summary>Completes when a client has read the final status of a snapshot or migration.</summary>
    public Task OperationResultRead => _operations.FinalStatusRead;

    /// <summary>Serves the API on <paramref name="socket"/>, which it now owns (and removes when disposed).</summary>
    public static ApiServer Start(KvmVm vm, ApiSocket socket) => new(vm, socket);

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(cancellationToken); }
            catch (Exception) when (cancellationToken.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            var serving = ServeAsync(client, CancellationToken.None);
            lock (_inFlight) _inFlight.Add(serving);
            _ = serving.ContinueWith(t => { lock (_inFlight) _inFlight.Remove(t); }, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken cancellationToken)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            var request = await HttpMessage.ReadAsync(stream, timeout.Token);
            OperationStatus? delivered = null;
            var (status, body) = request is null
                ? ("400 Bad Request", Json(new ApiError("malformed request"), ApiJson.Default.ApiError))
                : Handle(request.Value.StartLine, request.Value.Body, out delivered);
            await HttpMessage.WriteAsync(stream, $"HTTP/1.1 {status}", body, timeout.Token);
            await stream.FlushAsync(timeout.Token);
            // A finished operation counts as read only once its answer is out: a migrated VM's
            // process ends right after, and must not take the answer with it.
            if (delivered is { Finished: true }) _operations.MarkFinalStatusRead();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
        {
            // The client went away or stalled; nothing to answer.
        }
    }

    private (string Status, byte[] Body) Handle(string startLine, byte[] body, out OperationStatus? delivered)
    {
        delivered = null;
        var parts = startLine.Split(' ');
        if (parts.Length < 2) return ("400 Bad Request", Json(new ApiError("malformed request line"), ApiJson.Default.ApiError));
        string method = parts[0], path = parts[1];
        try
        {
            return (method, path) switch
            {
                ("GET", "/vm") => ("200 OK", Json(Status(), ApiJson.Default.VmStatus)),
                ("PUT", "/vm/pause") => ("200 OK", Json(new PauseResult("paused", NotMigrating("pause").Pause().TotalMicroseconds), ApiJson.Default.PauseResult)),
                ("PUT", "/vm/resume") => Ok(() => NotMigrating("resume").Resume(Body(body, ApiJson.Default.ResumeRequest)?.Force ?? false), "running"),
                ("PUT", "/vm/stop") => Ok(() => NotMigrating("stop").End(new VmExit(VmExitKind.Stopped, "stopped through the API")), "stopped"),
                ("PUT", "/vm/snapshot") => Accepted(() => StartSnapshot(Body(body, ApiJson.Default.SnapshotRequest))),
                ("PUT", "/vm/migrate") => Accepted(() => StartMigration(Body(body, ApiJson.Default.MigrateRequest))),
                ("PUT", "/vm/operation/cancel") => Accepted(_operations.Cancel),
                ("PUT", "/vm/migrate/postcopy") => Accepted(Operations.MigrateOperation.RequestPostCopy),
                ("PUT", "/vm/migrate/recover") => Accepted(() => Recover(Body(body, ApiJson.Default.RecoverRequest))),
                ("GET", "/vm/operation") => (delivered = _operations.Status) is { } op
                    ? ("200 OK", Json(op, ApiJson.Default.OperationStatus))
                    : ("404 Not Found", Json(new ApiError("no snapshot or migration has run"), ApiJson.Default.ApiError)),
                (_, "/vm" or "/vm/pause" or "/vm/resume" or "/vm/stop" or "/vm/snapshot" or "/vm/migrate" or "/vm/operation" or "/vm/operation/cancel" or "/vm/migrate/postcopy" or "/vm/migrate/recover") =>
                    ("405 Method Not Allowed", Json(new ApiError($"{method} is not allowed on {path}"), ApiJson.Default.ApiError)),
                _ => ("404 Not Found", Json(new ApiError($"no such endpoint: {path}"), ApiJson.Default.ApiError)),
            };
        }
        catch (InvalidOperationException e)
        {
            return ("409 Conflict", Json(new ApiError(e.Message), ApiJson.Default.ApiError));
        }
        catch (BadRequestException e)
        {
            return ("400 Bad Request", Json(new ApiError(e.Message), ApiJson.Default.ApiError));
        }
    }

    private static T? Body<T>(byte[] body, JsonTypeInfo<T> type) where T : class
    {
        if (body.Length == 0) return null;
        try { return JsonSerializer.Deserialize(body, type); }
        catch (JsonException e) { throw new BadRequestException($"malformed request body: {VmConfigJson.Where(e)}"); }
    }

    private (string, byte[]) Accepted(Action start)
    {
        start();
        return ("202 Accepted", Json(new ApiOk("started"), ApiJson.Default.ApiOk));
    }

    private void StartSnapshot(SnapshotRequest? request)
    {
        if (request is null || string.IsNullOrWhiteSpace(request.Path)) throw new BadRequestException("a snapshot needs a path");
        string path = Path.GetFullPath(request.Path);
        if (!Directory.Exists(Path.GetDirectoryName(path))) throw new BadRequestException($"no such directory for {path}");
        EnsureRunningOrPaused();
        _operations.Start("snapshot", (progress, _) => Operations.SnapshotOperation.RunAsync(_vm, path, request.Resume, progress));
    }

    private void StartMigration(MigrateRequest? request)
    {
        if (request is null) throw new BadRequestException("a migration needs a destination");
        Operations.MigrationPlan plan;
        try { plan = Operations.MigrationPlan.From(request); }
        catch (Migration.MigrationException e) { throw new BadRequestException(e.Message); }
        EnsureRunningOrPaused();
        _operations.Start("migrate", (progress, cancel) => Operations.MigrateOperation.RunAsync(_vm, plan, progress, cancel));
    }

    /// <summary>Shows work that this process did not start through the API (a post-copy destination's incoming pages) as its operation.</summary>
    public void ShowOperation(string kind, Func<Operations.OperationTracker.OperationProgress, CancellationToken, Task<OperationStatus>> work) =>
        _operations.Start(kind, work);

    private static void Recover(RecoverRequest? request)
    {
        try { Operations.MigrateOperation.RequestRecovery(request?.To); }
        catch (ArgumentException e) { throw new BadRequestException(e.Message); }
    }

    /// <summary>
    /// A VM has one owner at a time: while a migration moves it (out of this process, or its
    /// post-copy pages into it), a pause, resume or stop through the API would fight the
    /// migration's own pause and its commit point, so it is refused until the migration ends.
    /// </summary>
    private KvmVm NotMigrating(string action)
    {
        if (_operations.Status is { Finished: false } op && op.Kind is "migrate" or "receive")
            throw new InvalidOperationException(op.Kind == "migrate"
                ? $"cannot {action} the VM while it is being migrated: cancel the migration first (ferry migrate-cancel), or wait until ferry migrate-status says it ended"
                : $"cannot {action} the VM while its memory is still arriving from its post-copy source: wait until ferry migrate-status says it is complete");
        return _vm;
    }

    private void EnsureRunningOrPaused()
    {
        if (_vm.State is not (VmRunState.Running or VmRunState.Paused)) throw new InvalidOperationException($"the VM is {_vm.State.ToString().ToLowerInvariant()}");
        if (_vm.HoldReason is { } hold) throw new InvalidOperationException($"the VM is held: {hold}");
        if (_vm.AwaitingPages) throw new InvalidOperationException("part of the VM's memory is still arriving from its post-copy source; wait until `ferry migrate-status` says it is complete");
    }

    private sealed class BadRequestException(string message) : Exception(message);

    private (string, byte[]) Ok(Action action, string state)
    {
        action();
        return ("200 OK", Json(new ApiOk(state), ApiJson.Default.ApiOk));
    }

    public VmStatus Status() => new(
        _vm.Config.Name,
        _vm.State.ToString().ToLowerInvariant(),
        _vm.Config.CpuCount,
        _vm.Config.MemoryBytes,
        Environment.ProcessId,
        _vm.StartedAt == default ? 0 : (long)(DateTimeOffset.UtcNow - _vm.StartedAt).TotalMilliseconds,
        _vm.Config.KernelPath,
        SocketPath,
        _vm.HoldReason);

    private static byte[] Json<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose(); // stops new connections and removes the file
        try { await _acceptLoop; } catch (OperationCanceledException) { }
        // Let requests already accepted (such as the stop that ended this VM) get their answer.
        Task[] pending;
        lock (_inFlight) pending = [.. _inFlight];
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(2)));
    }
}
