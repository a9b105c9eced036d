namespace Ferry.Migration.Transport;

/// <summary>How a VM moves. Numbers travel in the Hello message: never renumber.</summary>
public enum MigrationMode : uint
{
    Cold = 1,
    /// <summary>Live: memory is copied in rounds while the VM runs, then a short stop-and-copy.</summary>
    PreCopy = 2,
    /// <summary>Live: the VM pauses at once, resumes at the destination, and its pages follow (pushed, or fetched on a fault).</summary>
    PostCopy = 3,
    /// <summary>Live: pre-copy rounds first; post-copy when the rounds cannot meet the downtime limit.</summary>
    Hybrid = 4,
}

public static class MigrationModes
{
    /// <summary>Whether a migration in this mode may hand the VM over before its memory (and so opens a fault stream).</summary>
    public static bool MayPostCopy(this MigrationMode mode) => mode is MigrationMode.PostCopy or MigrationMode.Hybrid;

    public static string Name(this MigrationMode mode) => mode switch
    {
        MigrationMode.Cold => "cold",
        MigrationMode.PreCopy => "precopy",
        MigrationMode.PostCopy => "postcopy",
        MigrationMode.Hybrid => "hybrid",
        _ => $"mode {(uint)mode}",
    };
}
