namespace Ferry.Migration.Transport;

/// <summary>How a VM moves. Numbers travel in the Hello message: never renumber.</summary>
public enum MigrationMode : uint
{
    Cold = 1,
    /// <summary>Live: memory is copied in rounds while the VM runs, then a short stop-and-copy.</summary>
    PreCopy = 2,
}
