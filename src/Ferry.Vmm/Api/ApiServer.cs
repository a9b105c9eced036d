using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Api;

namespace Ferry.Vmm.Api;

/// <summary>
/// The VM's control API: JSON over HTTP on a Unix socket, one per VM process.
/// GET /vm (status), PUT /vm/pause, PUT /vm/resume, PUT /vm/stop.
/// A receiving VMM serves it before its VM exists (<see cref="StartReceiving"/>): the status says
/// "receiving" and the operation is the receive, until <see cref="Attach"/> hands it the VM.
/// A standby receiver serves it before it even knows what to receive (<see cref="StartStandby"/>):
/// its status says "standby" until PUT /receive/claim gives it the receive's options.
/// </summary>
public sealed class ApiServer : IAsyncDisposable
{
    private volatile KvmVm? _vm;
    private ApiSocket? _socket;
    private readonly CancellationTokenSource _stop = new();
    private Task _acceptLoop = Task.CompletedTask;
    private readonly Operations.OperationTracker _operations = new();
    private readonly List<Task> _inFlight = [];
    private volatile string? _receivingName;
    private volatile VmConfig? _receivingConfig;
    /// <summary>A standby's claim: starts the receive with the claim's options; completes once it listens. Null once claimed.</summary>
    private Func<string[], Task>? _claim;

    private ApiServer(KvmVm? vm, ApiSocket? socket, string? receivingName)
    {
        _vm = vm;
        _receivingName = receivingName;
        if (socket is not null) Serve(socket);
    }

    public string SocketPath => _socket?.Path ?? "";

    /// <summary>True once the API is served on a socket.</summary>
    public bool Serving => _socket is not null;

    /// <summary>Completes when a client has read the final status of a snapshot or migration.</summary>
    public Task OperationResultRead => _operations.FinalStatusRead;

    /// <summary>Serves the API on <paramref name="socket"/>, which it now owns (and removes when disposed).</summary>
    public static ApiServer Start(KvmVm vm, ApiSocket socket) => new(vm, socket, null);

    /// <summary>
    /// Serves the API of a VM still to be received, on <paramref name="socket"/> (which it now owns)
    /// or, when its name is not known yet (null), on the socket given later to <see cref="Serve"/>.
    /// </summary>
    public static ApiServer StartReceiving(ApiSocket? socket, string? name) => new(null, socket, name);

    /// <summary>
    /// Serves a standby receiver's API on <paramref name="socket"/> (which it now owns): only its
    /// status, until a client claims it once with PUT /receive/claim. <paramref name="claim"/> gets
    /// the claim's options and completes when the receive listens (answered 200) or fails with why
    /// it cannot (answered 400 with that message).
    /// </summary>
    public static ApiServer StartStandby(ApiSocket socket, Func<string[], Task> claim)
    {
        var server = new ApiServer(null, null, null) { _claim = claim };
        // The claim's JSON, read and answered once now: a first use sets up its type information
        // (~0.6 ms here), which a migration would otherwise wait for.
        _ = JsonSerializer.Deserialize("{\"arguments\":[]}"u8, ApiJson.Default.StandbyClaim);
        _ = Json(new ApiOk(ReceivingState), ApiJson.Default.ApiOk);
        server.Serve(socket);
        return server;
    }

    /// <summary>A claimed standby learns the name of the VM it receives.</summary>
    public void ReceivingName(string name) => _receivingName = name;

    /// <summary>The claimer moved the socket's directory (a standby's run directory renamed after the VM): the socket is now at <paramref name="path"/>.</summary>
    public void SocketMoved(string path)
    {
        if (_socket is null || !File.Exists(path)) throw new VmConfigException($"--api-socket {path}: this standby's control socket is not there");
        _socket.MovedTo(path);
    }

    /// <summary>Starts serving on <paramref name="socket"/>, which it now owns; once only.</summary>
    public void Serve(ApiSocket socket)
    {
        if (_socket is not null) throw new InvalidOperationException($"the API is already served on {_socket.Path}");
        _socket = socket;
        _acceptLoop = AcceptLoopAsync(socket.Listener, _stop.Token);
    }

    /// <summary>The configuration of the VM being received, once the source has sent it: the status shows its name and size.</summary>
    public void Receiving(VmConfig config) => _receivingConfig = config;

    /// <summary>The received VM exists and runs (or is held): from now on the API is its API.</summary>
    public void Attach(KvmVm vm) => _vm = vm;

    /// <summary>Cancels the running operation as `PUT /vm/operation/cancel` would; false when there is none or it can no longer be cancelled.</summary>
    public bool TryCancelOperation()
    {
        try { _operations.Cancel(); return true; }
        catch (InvalidOperationException) { return false; }
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(cancellationToken); }
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
                : request.Value.StartLine.StartsWith("PUT /receive/claim ", StringComparison.Ordinal)
                    ? await ClaimAsync(request.Value.Body)
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

    /// <summary>PUT /receive/claim: a standby's one claim, answered once its receive listens or with why it cannot.</summary>
    private async Task<(string, byte[])> ClaimAsync(byte[] body)
    {
        StandbyClaim? request;
        try { request = Body(body, ApiJson.Default.StandbyClaim); }
        catch (BadRequestException e) { return ("400 Bad Request", Json(new ApiError(e.Message), ApiJson.Default.ApiError)); }
        if (request?.Arguments is not { } arguments) return ("400 Bad Request", Json(new ApiError("a claim needs the receive's arguments"), ApiJson.Default.ApiError));
        if (Interlocked.Exchange(ref _claim, null) is not { } claim)
            return ("409 Conflict", Json(new ApiError("this VMM is not a standby receiver, or it was claimed already"), ApiJson.Default.ApiError));
        try
        {
            await claim(arguments);
            return ("200 OK", Json(new ApiOk(ReceivingState), ApiJson.Default.ApiOk));
        }
        catch (Exception e)
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
        var vm = EnsureRunningOrPaused();
        _operations.Start("snapshot", (progress, _) => Operations.SnapshotOperation.RunAsync(vm, path, request.Resume, progress));
    }

    private void StartMigration(MigrateRequest? request)
    {
        if (request is null) throw new BadRequestException("a migration needs a destination");
        Operations.MigrationPlan plan;
        try { plan = Operations.MigrationPlan.From(request); }
        catch (Migration.MigrationException e) { throw new BadRequestException(e.Message); }
        var vm = EnsureRunningOrPaused();
        _operations.Start("migrate", (progress, cancel) => Operations.MigrateOperation.RunAsync(vm, plan, progress, cancel));
    }

    /// <summary>Shows work that this process did not start through the API (a receive) as its operation, cancellable through the API.</summary>
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
                : _vm is null
                    ? $"cannot {action} the VM while it is being received: it does not run here yet (cancel the receive with ferry migrate-cancel, or wait until ferry migrate-status says it runs)"
                    : $"cannot {action} the VM while its memory is still arriving from its post-copy source: wait until ferry migrate-status says it is complete");
        return Vm;
    }

    /// <summary>The VM; refused while it is still being received.</summary>
    private KvmVm Vm => _vm ?? throw new InvalidOperationException("the VM is still being received: it does not run here yet (see ferry migrate-status)");

    private KvmVm EnsureRunningOrPaused()
    {
        var vm = Vm;
        if (vm.State is not (VmRunState.Running or VmRunState.Paused)) throw new InvalidOperationException($"the VM is {vm.State.ToString().ToLowerInvariant()}");
        if (vm.HoldReason is { } hold) throw new InvalidOperationException($"the VM is held: {hold}");
        if (vm.AwaitingPages) throw new InvalidOperationException("part of the VM's memory is still arriving from its post-copy source; wait until `ferry migrate-status` says it is complete");
        return vm;
    }

    private sealed class BadRequestException(string message) : Exception(message);

    private (string, byte[]) Ok(Action action, string state)
    {
        action();
        return ("200 OK", Json(new ApiOk(state), ApiJson.Default.ApiOk));
    }

    /// <summary>The state a VM still being received shows (its size once the source has sent its configuration).</summary>
    public const string ReceivingState = "receiving";

    /// <summary>The state a standby receiver shows until it is claimed.</summary>
    public const string StandbyState = "standby";

    public VmStatus Status()
    {
        if (_vm is not { } vm)
        {
            var config = _receivingConfig;
            return new VmStatus(config?.Name ?? _receivingName ?? "", Volatile.Read(ref _claim) is not null ? StandbyState : ReceivingState, config?.CpuCount ?? 0, config?.MemoryBytes ?? 0,
                Environment.ProcessId, 0, config?.KernelPath ?? "", SocketPath, null);
        }
        return new VmStatus(
            vm.Config.Name,
            vm.State.ToString().ToLowerInvariant(),
            vm.Config.CpuCount,
            vm.Config.MemoryBytes,
            Environment.ProcessId,
            vm.StartedAt == default ? 0 : (long)(DateTimeOffset.UtcNow - vm.StartedAt).TotalMilliseconds,
            vm.Config.KernelPath,
            SocketPath,
            vm.HoldReason)
        {
            Nets = vm.Config.Nets.Length > 0 ? vm.NetCards() : null,
        };
    }

    private static byte[] Json<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    private int _disposed;

    /// <summary>Stops serving and removes the socket; a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _stop.Cancel();
        _socket?.Dispose(); // stops new connections and removes the file
        try { await _acceptLoop; } catch (OperationCanceledException) { }
        // Let requests already accepted (such as the stop that ended this VM) get their answer.
        Task[] pending;
        lock (_inFlight) pending = [.. _inFlight];
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(2)));
    }
}
