using Ferry.Migration.Format;

namespace Ferry.Migration.Transport;

/// <summary>
/// The phases of a migration as its primary stream shows them, each begun by the first message
/// or section of a kind that crosses the link. docs/migration-protocol.md's failure table is
/// written against them, and the failure matrix (tests/Ferry.Cli.Tests/Hostile/FailureMatrixTests)
/// injects every fault at the start of every phase of every mode it lists: a phase added here
/// gets its cases without another line of test.
/// </summary>
public static class MigrationPhases
{
    public static IReadOnlyList<MigrationPhase> All { get; } =
    [
        new("handshake", "the source's Hello: authentication, streams", PhaseStart.FromSource(MessageType.Hello), AllModes),
        new("state", "the device state, at the switchover after the last pages (cold: after all of them)", PhaseStart.FromSource(SectionType.DeviceState), AllModes),
        new("memory", "the first guest memory section", PhaseStart.FromSource(SectionType.Memory), [MigrationMode.Cold, MigrationMode.PreCopy]),
        new("rounds", "the end of the first live round: the destination acknowledges rounds", PhaseStart.FromSource(SectionType.RoundEnd), [MigrationMode.PreCopy, MigrationMode.Hybrid]),
        new("post-copy pages", "the switchover to post-copy: which pages the destination must fetch", PhaseStart.FromSource(SectionType.PostCopyPages), [MigrationMode.PostCopy, MigrationMode.Hybrid]),
        new("image end", "the source's End on the primary stream: everything is sent, Ready is awaited", PhaseStart.FromSource(SectionType.End), AllModes),
        new("ready", "the destination's Ready: its copy is complete, the source may commit", PhaseStart.FromDestination(MessageType.Ready), AllModes),
        new("commit", "the source's Go: it committed; the VM is the destination's", PhaseStart.FromSource(MessageType.Go), AllModes),
        new("running", "the destination's Running: the VM runs there", PhaseStart.FromDestination(MessageType.Running), AllModes),
        new("post-copy done", "the destination has every page; the source may end", PhaseStart.FromDestination(MessageType.PostCopyDone), [MigrationMode.PostCopy, MigrationMode.Hybrid]),
    ];

    private static MigrationMode[] AllModes => [MigrationMode.Cold, MigrationMode.PreCopy, MigrationMode.PostCopy, MigrationMode.Hybrid];
}

/// <summary>A phase: its name, what happens in it, the wire event that begins it, and the modes that have it.</summary>
public sealed record MigrationPhase(string Name, string Meaning, PhaseStart Start, IReadOnlyList<MigrationMode> Modes);

/// <summary>
/// The first message (ControlChannel framing) or section (SectionWriter framing) of a kind on
/// the primary stream, in one direction.
/// </summary>
public sealed record PhaseStart(bool SentBySource, MessageType? Message, SectionType? Section)
{
    public static PhaseStart FromSource(MessageType message) => new(true, message, null);
    public static PhaseStart FromSource(SectionType section) => new(true, null, section);
    public static PhaseStart FromDestination(MessageType message) => new(false, message, null);
}
