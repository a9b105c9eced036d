using System.CommandLine;
using Ferry.Agent.Api;
using Grpc.Core;

namespace Ferry.Cli.Commands.Hosts;

/// <summary>
/// `--host HOST` of the agent commands: a name from the client configuration (FERRY_CONFIG or
/// ~/.config/ferry/config.json) or ADDR:PORT. Without it, the configuration's only host.
/// </summary>
public static class AgentTarget
{
    public static readonly Option<string?> HostOption = new("--host")
    {
        Description = "The host agent to talk to: a name from the client configuration ($FERRY_CONFIG) or ADDR:PORT",
        Recursive = true,
    };

    public static AgentConnection Connect(ParseResult parse) => Connect(parse.GetValue(HostOption));

    public static AgentConnection Connect(string? host)
    {
        string path = ClientConfig.DefaultPath;
        var config = ClientConfig.Load(path);
        if (host is null)
        {
            if (config.Hosts.Count != 1)
                throw new UsageException(config.Hosts.Count == 0
                    ? $"say which host: --host HOST (no client configuration at {path}; set FERRY_CONFIG)"
                    : $"say which host: --host {string.Join("|", config.Hosts.Keys.Order(StringComparer.Ordinal))}");
            host = config.Hosts.Keys.Single();
        }
        var (address, credentials) = config.Resolve(host, path);
        return new AgentConnection(address, credentials);
    }

    /// <summary>The address an agent is reached at, for another agent to dial (`vm migrate --to h2`).</summary>
    public static string AddressOf(string host)
    {
        string path = ClientConfig.DefaultPath;
        return ClientConfig.Load(path).Resolve(host, path).Address;
    }

    /// <summary>Runs one call; an agent's refusal or an unreachable agent becomes one line and a non-zero exit.</summary>
    public static async Task<int> CallAsync(ParseResult parse, Func<AgentConnection, Task<int>> call)
    {
        try
        {
            using var agent = Connect(parse);
            try { return await call(agent); }
            catch (RpcException e)
            {
                Console.Error.WriteLine($"ferry: {AgentConnection.Describe(e, agent.Address)}");
                return (int)(e.StatusCode is StatusCode.FailedPrecondition or StatusCode.InvalidArgument ? ExitCode.BadInput : ExitCode.ApiFailed);
            }
        }
        catch (AgentCallException e)
        {
            Console.Error.WriteLine($"ferry: {e.Message}");
            return (int)ExitCode.BadInput;
        }
    }
}
