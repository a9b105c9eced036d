using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Vmm.Api;

/// <summary>
/// The VM's control API: JSON over HTTP on a Unix socket, one per VM process.
/// GET /vm (status), PUT /vm/pause, PUT /vm/resume, PUT /vm/stop.
/// </summary>
public sealed class ApiServer : IAsyncDisposable
{
    private readonly KvmVm _vm;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    private ApiServer(KvmVm vm, string socketPath, Socket listener)
    {
        _vm = vm;
        SocketPath = socketPath;
        _listener = listener;
        _acceptLoop = AcceptLoopAsync(_stop.Token);
    }

    public string SocketPath { get; }

    /// <summary>Binds the socket; refuses when another live VM already owns it, and replaces a stale one.</summary>
    public static ApiServer Start(KvmVm vm, string socketPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(socketPath))!;
        Directory.CreateDirectory(directory);
        if (File.Exists(socketPath))
        {
            if (ApiClient.IsAlive(socketPath))
                throw new VmConfigException($"API socket {socketPath} is in use by a running VM (choose another --name or --api-socket)");
            File.Delete(socketPath);
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(16);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new VmConfigException($"cannot listen on API socket {socketPath}: {e.Message}");
        }
        return new ApiServer(vm, socketPath, listener);
    }

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptAsync(cancellationToken); }
            catch (Exception) when (cancellationToken.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            _ = ServeAsync(client, cancellationToken);
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
            var (status, body) = request is null
                ? ("400 Bad Request", Json(new ApiError("malformed request"), ApiJson.Default.ApiError))
                : Handle(request.Value.StartLine);
            await HttpMessage.WriteAsync(stream, $"HTTP/1.1 {status}", body, timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
        {
            // The client went away or stalled; nothing to answer.
        }
    }

    private (string Status, byte[] Body) Handle(string startLine)
    {
        var parts = startLine.Split(' ');
        if (parts.Length < 2) return ("400 Bad Request", Json(new ApiError("malformed request line"), ApiJson.Default.ApiError));
        string method = parts[0], path = parts[1];
        try
        {
            return (method, path) switch
            {
                ("GET", "/vm") => ("200 OK", Json(Status(), ApiJson.Default.VmStatus)),
                ("PUT", "/vm/pause") => ("200 OK", Json(new PauseResult("paused", _vm.Pause().TotalMicroseconds), ApiJson.Default.PauseResult)),
                ("PUT", "/vm/resume") => Ok(() => _vm.Resume(), "running"),
                ("PUT", "/vm/stop") => Ok(() => _vm.End(new VmExit(VmExitKind.Stopped, "stopped through the API")), "stopped"),
                (_, "/vm" or "/vm/pause" or "/vm/resume" or "/vm/stop") =>
                    ("405 Method Not Allowed", Json(new ApiError($"{method} is not allowed on {path}"), ApiJson.Default.ApiError)),
                _ => ("404 Not Found", Json(new ApiError($"no such endpoint: {path}"), ApiJson.Default.ApiError)),
            };
        }
        catch (InvalidOperationException e)
        {
            return ("409 Conflict", Json(new ApiError(e.Message), ApiJson.Default.ApiError));
        }
    }

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
        SocketPath);

    private static byte[] Json<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        try { await _acceptLoop; } catch (OperationCanceledException) { }
        try { File.Delete(SocketPath); } catch (IOException) { }
    }
}
