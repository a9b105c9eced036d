namespace Ferry.Migration.Vm;

/// <summary>
/// A VM whose disk images can travel with it (`--copy-storage`): the source reads them and tracks
/// the blocks the guest writes; the destination writes the copy. Without this capability a VM's
/// storage is shared (the same image at both ends) and the engine never touches it.
/// </summary>
public interface IMigratableDisks
{
    /// <summary>The VM's disks in device order (the destination's are matched by position).</summary>
    IReadOnlyList<IMigratableDisk> Disks { get; }
}
