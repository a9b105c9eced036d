using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace Ferry.Agent.Api;

/// <summary>
/// A client of one agent: HTTP/2 over TLS, presenting our certificate, trusting only the
/// cluster's CA for the agent's, and sending the bearer token with every call.
/// </summary>
public sealed class AgentConnection : IDisposable
{
    private readonly GrpcChannel _channel;

    public Agent.AgentClient Client { get; }
    public string Address { get; }

    public AgentConnection(string address, AgentCredentials credentials)
    {
        Address = address;
        var ca = credentials.LoadCa();
        var certificate = credentials.LoadCertificate();
        string token = credentials.LoadToken();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            // A kept connection whose peer went away without a word (its host died, its link was
            // cut) must fail the next call, not hold it forever: HTTP/2 pings find that out.
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [certificate],
                // The agent's name in its certificate is its host name, not always the address
                // dialled (a test bed maps names to namespaces): the CA's signature is the proof.
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is not null && ChainCheck.IssuedBy(ca, X509CertificateLoader.LoadCertificate(cert.GetRawCertData()), ChainCheck.ServerAuth),
            },
        };
        _channel = GrpcChannel.ForAddress($"https://{address}", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        var invoker = _channel.Intercept(metadata =>
        {
            metadata.Add("authorization", $"Bearer {token}");
            return metadata;
        });
        Client = new Agent.AgentClient(invoker);
    }

    /// <summary>The one line to show for a failed call: the agent's own message, or why it could not be reached.</summary>
    public static string Describe(RpcException e, string address) => e.StatusCode switch
    {
        StatusCode.Unavailable => $"cannot reach the agent at {address}: {e.Status.Detail}",
        StatusCode.Unauthenticated => $"the agent at {address} refused the call: {e.Status.Detail}",
        StatusCode.DeadlineExceeded => $"the agent at {address} did not answer in time",
        _ => e.Status.Detail,
    };

    public void Dispose() => _channel.Dispose();
}
