using System.CommandLine;
using Ferry.Agent;

var root = new RootCommand(
    """
    ferryd: the Ferry host agent. Owns this host's VMs (each in its own VMM process, which keeps
    running when the agent stops), reports the host's capacity and load, and migrates VMs to other
    agents. Callers need a certificate from the cluster's CA and the cluster's token.

    First:  ferryd init --state-dir /var/lib/ferryd --name h1 --listen 10.0.0.1:7400 --ca /etc/ferry/ca
    Then:   ferryd serve --state-dir /var/lib/ferryd
    """);
root.Subcommands.Add(AgentCommands.Init());
root.Subcommands.Add(AgentCommands.Serve());
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    Console.Error.WriteLine($"ferryd: {string.Join("; ", parse.Errors.Select(e => e.Message).Distinct())} (see ferryd --help)");
    return 2;
}
try
{
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is AgentStartException or Ferry.Agent.Vms.AgentException or Ferry.Agent.Api.AgentCallException)
{
    Console.Error.WriteLine($"ferryd: {e.Message}");
    return 1;
}
