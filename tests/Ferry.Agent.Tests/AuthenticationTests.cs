using System.Security.Cryptography.X509Certificates;
using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Grpc.Core;

namespace Ferry.Agent.Tests;

/// <summary>Who may call an agent: a certificate from the cluster's CA and the cluster's token, both; anyone else gets nothing.</summary>
[Collection(AgentCollection.Name)]
public sealed class AuthenticationTests : IDisposable
{
    private readonly TestCluster _cluster = new(hosts: 1);

    public void Dispose() => _cluster.Dispose();

    private HostEntry Entry => ClientConfig.Load(_cluster.ConfigPath).Hosts["h1"];

    [Fact]
    public void The_cluster_certificate_and_token_are_answered()
    {
        using var agent = _cluster.Connect("h1");
        var host = agent.Client.GetHost(new GetHostRequest());
        Assert.Equal("h1", host.Name);
        Assert.True(host.Cpus > 0);
        Assert.True(host.MemoryTotalBytes > host.MemoryAvailableBytes / 2);
    }

    [Fact]
    public void A_wrong_token_is_refused_and_learns_nothing()
    {
        string wrong = Path.Combine(_cluster.Root, "wrong-token");
        File.WriteAllText(wrong, "0123456789abcdef0123456789abcdef\n");
        var e = Entry;
        using var agent = new AgentConnection(e.Address, new AgentCredentials(e.Ca, e.Certificate, e.Key, wrong));
        var error = Assert.Throws<RpcException>(() => agent.Client.ListVms(new ListVmsRequest()));
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Equal("a valid bearer token is required", error.Status.Detail);
    }

    [Fact]
    public void A_certificate_from_another_CA_is_refused_even_with_the_right_token()
    {
        // Another cluster's CA and client certificate: same shape, wrong issuer.
        string otherCa = Path.Combine(_cluster.Root, "other-ca");
        Security.CertificateAuthority.OpenOrCreate(otherCa);
        var e = Entry;
        using var agent = new AgentConnection(e.Address,
            new AgentCredentials(e.Ca, Path.Combine(otherCa, "client.pem"), Path.Combine(otherCa, "client.key"), e.TokenFile));
        var error = Assert.Throws<RpcException>(() => agent.Client.ListVms(new ListVmsRequest()));
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
        Assert.NotEqual(StatusCode.Unauthenticated, error.StatusCode); // refused in the TLS handshake, before any gRPC
    }

    [Fact]
    public async Task A_caller_without_a_client_certificate_is_refused()
    {
        // Plain TLS trusting the agent's CA, the right token, but no certificate of its own.
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Entry.Ca));
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && ChainCheck.IssuedBy(ca, new X509Certificate2(cert), ChainCheck.ServerAuth),
            },
        };
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"https://{Entry.Address}", new Grpc.Net.Client.GrpcChannelOptions { HttpHandler = handler });
        var client = new Api.Agent.AgentClient(channel);
        var headers = new Metadata { { "authorization", $"Bearer {File.ReadAllText(Entry.TokenFile).Trim()}" } };
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.ListVmsAsync(new ListVmsRequest(), headers));
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
    }

    [Fact]
    public void The_cli_says_in_one_line_when_the_token_is_wrong()
    {
        string wrong = Path.Combine(_cluster.Root, "wrong-token");
        File.WriteAllText(wrong, "not the token\n");
        string config = File.ReadAllText(_cluster.ConfigPath).Replace(Entry.TokenFile, wrong);
        File.WriteAllText(_cluster.ConfigPath, config);
        var (code, _, stderr) = _cluster.Ferry("--host", "h1", "vm", "list");
        Assert.NotEqual(0, code);
        Assert.Equal($"ferry: the agent at {Entry.Address} refused the call: a valid bearer token is required", stderr.Trim());
    }
}
