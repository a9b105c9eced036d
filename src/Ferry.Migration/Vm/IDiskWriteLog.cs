namespace Ferry.Migration.Vm;

/// <summary>
/// The blocks of one disk the guest wrote since the last collection. A write is marked after its
/// bytes reach the image, so a block read while a write is in flight is marked again and re-sent.
/// </summary>
public interface IDiskWriteLog : IDisposable
{
    /// <summary>ORs the blocks written since the last call into <paramref name="blocks"/> (bit i = block i) and clears them here.</summary>
    void CollectInto(ulong[] blocks);
}
