using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Api;

/// <summary>The other end of ApiServer: what `ferry pause|resume|status|stop|list` use.</summary>
public sealed class ApiClient(string socketPath)
{
    public string SocketPath { get; } = socketPath;

    public Task<VmStatus> StatusAsync(CancellationToken cancellationToken) => SendAsync("GET", "/vm", ApiJson.Default.VmStatus, cancellationToken);
    public Task<PauseResult> PauseAsync(CancellationToken cancellationToken) => SendAsync("PUT", "/vm/pause", ApiJson.Default.PauseResult, cancellationToken);
    public Task<ApiOk> ResumeAsync(bool force, CancellationToken cancellationToken) =>
        SendAsync("PUT", "/vm/resume", ApiJson.Default.ApiOk, cancellationToken, Encode(new ResumeRequest(force), ApiJson.Default.ResumeRequest));
    public Task<ApiOk> SnapshotAsync(string path, bool resume, CancellationToken cancellationToken) =>
        SendAsync("PUT", "/vm/snapshot", ApiJson.Default.ApiOk, cancellationToken, Encode(new SnapshotRequest(path, resume), ApiJson.Default.SnapshotRequest));
    public Task<ApiOk> MigrateAsync(MigrateRequest request, CancellationToken cancellationToken) =>
        SendAsync("PUT", "/vm/migrate", ApiJson.Default.ApiOk, cancellationToken, Encode(request, ApiJson.Default.MigrateRequest));
    public Task<ApiOk> SwitchToPostCopyAsync(CancellationToken cancellationToken) => SendAsync("PUT", "/vm/migrate/postcopy", ApiJson.Default.ApiOk, cancellationToken);
    public Task<ApiOk> RecoverMigrationAsync(string? to, CancellationToken cancellationToken) =>
        SendAsync("PUT", "/vm/migrate/recover", ApiJson.Default.ApiOk, cancellationToken, Encode(new RecoverRequest(to), ApiJson.Default.RecoverRequest));
    public Task<ApiOk> CancelOperationAsync(CancellationToken cancellationToken) => SendAsync("PUT", "/vm/operation/cancel", ApiJson.Default.ApiOk, cancellationToken);
    public Task<OperationStatus> OperationAsync(CancellationToken cancellationToken) =>
        SendAsync("GET", "/vm/operation", ApiJson.Default.OperationStatus, cancellationToken);

    /// <summary>Claims a standby receiver (`ferry receive --standby`) for one receive with <paramref name="arguments"/>; returns once it listens.</summary>
    public Task<ApiOk> ClaimStandbyAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken) =>
        SendAsync("PUT", "/receive/claim", ApiJson.Default.ApiOk, cancellationToken, Encode(new StandbyClaim([.. arguments]), ApiJson.Default.StandbyClaim));

    private static byte[] Encode<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);
    public Task<ApiOk> StopAsync(CancellationToken cancellationToken) => SendAsync("PUT", "/vm/stop", ApiJson.Default.ApiOk, cancellationToken);

    /// <summary>True when something answers on the socket (a live VM), false for a stale socket file.</summary>
    public static bool IsAlive(string socketPath)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A VM's process answers in milliseconds; one that says nothing this long is stuck, and the caller must hear so.</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);

    private async Task<T> SendAsync<T>(string method, string path, JsonTypeInfo<T> type, CancellationToken cancellationToken, byte[]? body = null)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AnswerTimeout);
        try
        {
            return await ExchangeAsync(method, path, type, timeout.Token, body);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ApiException($"no answer from {SocketPath} within {AnswerTimeout.TotalSeconds:F0} s: the VM's process may be stuck");
        }
        catch (IOException e)
        {
            throw new ApiException($"the connection to {SocketPath} broke: {e.Message}");
        }
        catch (SocketException e)
        {
            throw new ApiException($"the connection to {SocketPath} broke: {e.Message}");
        }
    }

    private async Task<T> ExchangeAsync<T>(string method, string path, JsonTypeInfo<T> type, CancellationToken cancellationToken, byte[]? body)
    {
        body ??= [];
        if (!File.Exists(SocketPath))
            throw new ApiException($"no VM has the API socket {SocketPath} (see `ferry list`)");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), cancellationToken);
        }
        catch (SocketException e)
        {
            throw new ApiException($"no VM answers on {SocketPath} ({e.Message}); it may have ended");
        }
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var head = $"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n";
        // One write: the server may answer and close as soon as it has the request, and any later
        // write (even an empty one) would then fail with EPIPE before the answer is read. That
        // lost the final status of a migration whose source process ends right after answering.
        byte[] request = [.. Encoding.ASCII.GetBytes(head), .. body];
        await stream.WriteAsync(request, cancellationToken);
        var response = await HttpMessage.ReadAsync(stream, cancellationToken)
            ?? throw new ApiException($"malformed answer from {SocketPath}");
        var statusParts = response.StartLine.Split(' ', 3);
        if (statusParts.Length < 2 || statusParts[1] is not ("200" or "202"))
        {
            string reason = response.StartLine;
            try { reason = JsonSerializer.Deserialize(response.Body, ApiJson.Default.ApiError)?.Error ?? reason; }
            catch (JsonException) { }
            throw new ApiException(reason);
        }
        try
        {
            return JsonSerializer.Deserialize(response.Body, type) ?? throw new ApiException($"empty answer from {SocketPath}");
        }
        catch (JsonException e)
        {
            throw new ApiException($"malformed answer from {SocketPath}: {e.Message}");
        }
    }
}
