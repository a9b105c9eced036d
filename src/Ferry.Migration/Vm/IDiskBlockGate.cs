namespace Ferry.Migration.Vm;

/// <summary>
/// At a post-copy destination, what a copied disk's device asks before it touches the image,
/// while some of its blocks are still at the source (`--copy-storage`). A read waits until every
/// block it covers is here; a write or discard waits only for the blocks it covers in part (a
/// block it covers whole becomes the guest's, and the source's copy of it is dropped on arrival).
/// Both throw IOException once the source is lost, which the device reports to the guest as an I/O error.
/// </summary>
public interface IDiskBlockGate
{
    void BeforeRead(long offset, long length);
    void BeforeWrite(long offset, long length);
}
