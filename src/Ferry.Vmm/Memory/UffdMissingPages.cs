using Ferry.Kvm;
using Ferry.Migration.Vm;

namespace Ferry.Vmm.Memory;

/// <summary>
/// Guest RAM registered with a userfaultfd in missing-page mode, for a post-copy destination: a
/// vCPU (inside KVM_RUN) or a VMM thread that touches a page not present blocks until the engine
/// installs it (UFFDIO_COPY, UFFDIO_ZEROPAGE). Dispose unregisters and closes the fd: any thread
/// still waiting is woken and finds ordinary anonymous memory.
/// </summary>
public sealed class UffdMissingPages : IMissingPages
{
    private readonly GuestMemory _memory;
    private readonly Userfaultfd _uffd;
    private readonly Func<int, string> _threadName;
    private int _disposed;

    public UffdMissingPages(GuestMemory memory, Userfaultfd uffd, Func<int, string> threadName)
    {
        _memory = memory;
        _uffd = uffd;
        _threadName = threadName;
    }

    public bool WaitForFault(out ulong gpa, out int threadId)
    {
        gpa = 0;
        while (_uffd.WaitForFault(Timeout.InfiniteTimeSpan, out nint address, out threadId))
        {
            if (_memory.GpaOf(address) is { } page) { gpa = page; return true; }
        }
        return false;
    }

    public void Interrupt() => _uffd.Interrupt();

    public int Install(ulong gpa, ReadOnlySpan<byte> pages) => _uffd.CopySkippingPresent(_memory.HostAddress(gpa, pages.Length), pages);

    public int InstallZero(ulong gpa, int pageCount) =>
        _uffd.ZeroSkippingPresent(_memory.HostAddress(gpa, pageCount * HostMemory.PageSize), (ulong)pageCount * HostMemory.PageSize);

    public void Wake(ulong gpa) => _uffd.Wake(_memory.HostAddress(gpa, HostMemory.PageSize), HostMemory.PageSize);

    public string ThreadName(int threadId) => _threadName(threadId);

    public bool Disposed => Volatile.Read(ref _disposed) != 0;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _uffd.Interrupt();
        try { _uffd.Unregister(_memory.HostBase, _memory.Map.SizeBytes); }
        catch (KvmException) { /* closing the fd below unregisters too */ }
        _uffd.Dispose();
    }
}
