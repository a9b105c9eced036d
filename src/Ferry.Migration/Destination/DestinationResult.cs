namespace Ferry.Migration.Destination;

/// <summary>How a migration ended at the destination.</summary>
public enum DestinationResult
{
    /// <summary>Go arrived: the VM runs here.</summary>
    Running,
    /// <summary>Ready was sent but Go never came: the VM is held here, paused, until someone decides.</summary>
    AwaitingDecision,
}
