using Ferry.Agent.Api;
using Ferry.Cli.Commands.Hosts;
using Grpc.Core;

namespace Ferry.Cli.Commands;

/// <summary>`ferry compare --from --to`: both agents asked before any VM starts, and described for the report's conditions.</summary>
public static class CompareHosts
{
    /// <summary>Null when both agents answer (<paramref name="link"/> says who they are); else why not, in one line.</summary>
    public static string? Describe(string from, string to, out string? link)
    {
        link = null;
        var described = new List<string>();
        foreach (var host in new[] { from, to })
        {
            try
            {
                using var agent = AgentTarget.Connect(host);
                var info = agent.Client.GetHost(new GetHostRequest(), deadline: DateTime.UtcNow.AddSeconds(15));
                described.Add($"{host} ({info.Name} at {agent.Address}: {info.Cpus} cores, {Units.Bytes((long)info.MemoryTotalBytes)})");
            }
            catch (RpcException e) { return $"--{(host == from ? "from" : "to")} {host}: {AgentConnection.Describe(e, AddressOrName(host))}"; }
            catch (Exception e) when (e is AgentCallException or UsageException) { return $"--{(host == from ? "from" : "to")} {host}: {e.Message}"; }
        }
        link = $"between host agents, {described[0]} to {described[1]} (ferry --host; the link between their hosts as it is)";
        return null;
    }

    private static string AddressOrName(string host)
    {
        try { return AgentTarget.AddressOf(host); }
        catch (Exception e) when (e is AgentCallException or UsageException) { return host; }
    }
}
