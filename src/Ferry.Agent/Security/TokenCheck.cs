using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Ferry.Agent.Security;

/// <summary>
/// Every call must carry "authorization: Bearer TOKEN" with the cluster's token, on top of a
/// client certificate the TLS layer already checked. A caller without it learns nothing but
/// that: no VM names, no host figures.
/// </summary>
public sealed class TokenCheck(byte[] token) : Interceptor
{
    private void Demand(ServerCallContext context)
    {
        string? header = context.RequestHeaders.GetValue("authorization");
        byte[] presented = Encoding.UTF8.GetBytes(header is not null && header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : "");
        if (!CryptographicOperations.FixedTimeEquals(presented, token))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid bearer token is required"));
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Demand(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Demand(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Demand(context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Demand(context);
        return continuation(requestStream, responseStream, context);
    }
}
