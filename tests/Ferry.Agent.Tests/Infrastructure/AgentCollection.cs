namespace Ferry.Agent.Tests.Infrastructure;

/// <summary>Tests that boot guests run one at a time: the machine has two cores and each guest wants them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AgentCollection
{
    public const string Name = "agents and guests";
}
