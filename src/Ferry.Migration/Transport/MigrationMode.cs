namespace Ferry.Migration.Transport;

/// <summary>How a VM moves. Numbers travel in the Hello message: never renumber.</summary>
public enum MigrationMode : uint
{
    Cold = 1,
}
