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
    [property: JsonPropertyName("ferry")] string Ferry)
{
    /// <summary>Start each VMM jailed (Jail/VmmJail). Absent from an older agent.json: off, as those agents ran.</summary>
    [JsonPropertyName("jail")] public bool Jail { get; init; }
    /// <summary>The jailed VMMs' uids (and gids): JailUidCount of them from JailUidStart, one per VM.</summary>
    [JsonPropertyName("jail_uid_start")] public int JailUidStart { get; init; } = DefaultJailUidStart;
    [JsonPropertyName("jail_uid_count")] public int JailUidCount { get; init; } = DefaultJailUidCount;
    /// <summary>A jailed VM's memory limit is its guest RAM plus this, for the VMM itself (runtime, buffers, migration streams).</summary>
    [JsonPropertyName("jail_memory_overhead_bytes")] public ulong JailMemoryOverheadBytes { get; init; } = DefaultJailMemoryOverheadBytes;

    /// <summary>
    /// Keep a standby receiver started (Vms/VmmLauncher.Standby) so that a migration into this host
    /// claims it rather than waiting for a VMM to start. Absent from an older agent.json: on.
    /// </summary>
    [JsonPropertyName("standby_receiver")] public bool StandbyReceiver { get; init; } = true;

    /// <summary>The bridge a tap the agent creates for a VM joins (its guest network); null: taps are left unattached.</summary>
    [JsonPropertyName("guest_bridge")] public string? GuestBridge { get; init; }

    public const int DefaultJailUidStart = 1_000_000_000, DefaultJailUidCount = 1_000_000;
    public const ulong DefaultJailMemoryOverheadBytes = 128UL << 20;
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(AgentSettings))]
[JsonSerializable(typeof(Vms.VmRecord))]
internal sealed partial class AgentJson : JsonSerializerContext;
