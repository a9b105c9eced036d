namespace Ferry.Api;

/// <summary>
/// A disk's id: the serial its guest reads with virtio-blk's GET_ID, 1 to 20 printable ASCII
/// characters and no comma (which separates `--disk` options). The VMM's `--disk` and the agent's
/// definitions take the same rule.
/// </summary>
public static class DiskId
{
    public const int MaxLength = 20;

    public static bool IsValid(string id) => id.Length is > 0 and <= MaxLength && id.All(c => c is > ' ' and <= '~' and not ',');
}
