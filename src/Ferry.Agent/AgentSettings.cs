using System.Text.Json.Serialization;

namespace Ferry.Agent;

/// <summary>
/// agent.json in the state directory, written by `ferryd init`: who this agent is and where it
/// listens. Everything else the agent needs is in the same directory, so a restart needs only it.
/// </summary>
public sealed record AgentSettings(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("listen")] string Listen,
    [property: JsonPropertyName("migration_address")] string MigrationAddress,
    [property: JsonPropertyName("max_migrations")] int MaxMigrations,
    [property: JsonPropertyName("ferry")] string Ferry);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(AgentSettings))]
[JsonSerializable(typeof(Vms.VmRecord))]
internal sealed partial class AgentJson : JsonSerializerContext;
