namespace Ferry.Agent.Tests;

/// <summary>
/// The agent drives VMMs through their control sockets and callers reach it through its gRPC
/// contract: it knows no VMM, migration engine or KVM code, so a crash in a VM never reaches it
/// and it can be built and run without them; the contract knows no Ferry project at all.
/// </summary>
public sealed class ArchitectureTests
{
    private static IEnumerable<string> FerryReferences(System.Reflection.Assembly assembly) =>
        assembly.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("Ferry.", StringComparison.Ordinal)).Order(StringComparer.Ordinal);

    [Fact]
    public void The_agent_refers_only_to_the_two_api_contracts() =>
        Assert.Equal(["Ferry.Agent.Api", "Ferry.Api"], FerryReferences(typeof(Ferry.Agent.Vms.VmRegistry).Assembly));

    [Fact]
    public void The_agent_contract_refers_to_no_ferry_project() =>
        Assert.Empty(FerryReferences(typeof(Api.AgentConnection).Assembly));
}
