using System.Text.Json.Serialization;

namespace Ferry.Agent.Vms;

/// <summary>
/// What the agent keeps of one VM in vms/NAME/vm.json: its definition and what the agent last
/// meant for it. What the VM is doing now is asked of its VMM; this is what survives a restart.
/// </summary>
public sealed record VmRecord(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("kernel")] string Kernel,
    [property: JsonPropertyName("initrd")] string Initrd,
    [property: JsonPropertyName("memory_bytes")] ulong MemoryBytes,
    [property: JsonPropertyName("cpus")] int Cpus,
    [property: JsonPropertyName("cmdline")] string Cmdline,
    [property: JsonPropertyName("intent")] string Intent)
{
    /// <summary>Where a migrated-out VM went (or, while migrating out, is going).</summary>
    [JsonPropertyName("migrated_to")] public string? MigratedTo { get; init; }
    /// <summary>Why the VM is held or died, as last seen.</summary>
    [JsonPropertyName("detail")] public string? Detail { get; init; }
    /// <summary>Its disks, in device order (absent from records written before disks existed).</summary>
    [JsonPropertyName("disks")] public IReadOnlyList<VmDisk> Disks { get; init; } = [];
    /// <summary>Its network cards, in device order after the disks.</summary>
    [JsonPropertyName("nets")] public IReadOnlyList<VmNet> Nets { get; init; } = [];
}

/// <summary>A virtio-blk disk: a raw image on this host, and the serial the guest reads.</summary>
public sealed record VmDisk(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("read_only")] bool ReadOnly,
    [property: JsonPropertyName("id")] string Id);

/// <summary>A virtio-net card: a tap on this host, and the card's MAC (kept, so the guest keeps its address).</summary>
public sealed record VmNet(
    [property: JsonPropertyName("tap")] string Tap,
    [property: JsonPropertyName("mac")] string Mac);

/// <summary>What the agent means for a VM (VmRecord.Intent).</summary>
public static class Intent
{
    /// <summary>Created, never started (or deleted and re-created).</summary>
    public const string Defined = "defined";
    /// <summary>Its VMM should be up: if it is not, the VM died.</summary>
    public const string Running = "running";
    /// <summary>Stopped on request.</summary>
    public const string Stopped = "stopped";
    /// <summary>A migration is coming in.</summary>
    public const string Receiving = "receiving";
    /// <summary>
    /// Its VMM was told to send the VM to <see cref="VmRecord.MigratedTo"/> and the outcome is not
    /// settled yet: the agent that began it, or one restarted after it, settles it from what the
    /// VMM and the destination agent say (<c>MigrationCoordinator</c>).
    /// </summary>
    public const string MigratingOut = "migrating-out";
    /// <summary>Moved to another host.</summary>
    public const string Migrated = "migrated";
}
