namespace Ferry.Migration.Vm;

/// <summary>
/// A VM that can run before all of its memory has arrived: the destination of a post-copy or
/// hybrid migration. Only some VMs can (KVM's needs userfaultfd), so it is its own interface.
/// </summary>
public interface IPostCopyTarget
{
    /// <summary>
    /// From now on turns every access to a page not present, by a vCPU or by the VMM itself, into
    /// a fault that the returned object reports, until it is disposed. With
    /// <paramref name="dropStaleCopies"/> it first drops whatever this VM holds of the pages in
    /// <paramref name="fetch"/> (copies an earlier round left, now out of date).
    /// </summary>
    IMissingPages ArmMissingPages(IReadOnlyList<PageSet> fetch, bool dropStaleCopies);
}

/// <summary>Faults on missing guest pages, and the means to resolve them. Dispose stops intercepting (a page not present then reads as zero).</summary>
public interface IMissingPages : IDisposable
{
    /// <summary>
    /// Blocks until something touches a missing page and gives its page-aligned address and the
    /// thread that touched it (0 if unknown); false once <see cref="Interrupt"/> was called.
    /// </summary>
    bool WaitForFault(out ulong gpa, out int threadId);

    /// <summary>Makes <see cref="WaitForFault"/> return false, now and from then on.</summary>
    void Interrupt();

    /// <summary>Installs whole pages at <paramref name="gpa"/> where they are still missing and wakes whoever waits on them; returns the pages it installed.</summary>
    int Install(ulong gpa, ReadOnlySpan<byte> pages);

    /// <summary>Installs zero pages where missing, as <see cref="Install"/> does.</summary>
    int InstallZero(ulong gpa, int pageCount);

    /// <summary>Wakes whoever waits on a page that another path already installed.</summary>
    void Wake(ulong gpa);

    /// <summary>What to call a thread that faulted, in reports (a vCPU's name, or the VMM's).</summary>
    string ThreadName(int threadId);
}
