using Ferry.Kvm;
using Ferry.Migration.Vm;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm;

/// <summary>The KVM VM as a post-copy destination: guest RAM armed with userfaultfd until every page is here.</summary>
public sealed partial class KvmVm : IPostCopyTarget
{
    private UffdMissingPages? _missingPages;

    /// <summary>Whether part of guest RAM is still at a post-copy source: a snapshot or another migration now would miss those pages.</summary>
    public bool AwaitingPages => Volatile.Read(ref _missingPages) is { } m && !m.Disposed;

    public IMissingPages ArmMissingPages(IReadOnlyList<PageSet> fetch, bool dropStaleCopies)
    {
        lock (_controlLock)
        {
            if (State is not (VmRunState.Created or VmRunState.Paused)) throw new InvalidOperationException("guest RAM can only be armed for post-copy before the VM runs");
            // Pages an earlier round left here are stale: dropped, they fault like pages never sent.
            foreach (var set in dropStaleCopies ? fetch : [])
                foreach (var (first, count) in Runs(set))
                    _memory.Discard(set.Region.Gpa + (ulong)first * HostMemory.PageSize, (ulong)count * HostMemory.PageSize);
            var uffd = Userfaultfd.Open();
            try { uffd.RegisterMissing(_memory.HostBase, _memory.Map.SizeBytes); }
            catch { uffd.Dispose(); throw; }
            return _missingPages = new UffdMissingPages(_memory, uffd, ThreadName);
        }
    }

    private string ThreadName(int threadId) =>
        _vcpus.FirstOrDefault(v => v.ThreadId == threadId) is { } vcpu ? $"vcpu{vcpu.Id}" : threadId == 0 ? "unknown" : ThreadNameOf(threadId);

    /// <summary>
    /// A thread of this process by its name (/proc/self/task/TID/comm); a thread of no process of
    /// ours is the kernel's: KVM fills pages for a vCPU from a worker thread too (async page faults).
    /// </summary>
    private static string ThreadNameOf(int threadId)
    {
        try { return File.ReadAllText($"/proc/self/task/{threadId}/comm").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "kernel worker"; }
    }

    /// <summary>The runs of consecutive pages in a set, as (first page, count).</summary>
    private static IEnumerable<(long First, long Count)> Runs(PageSet set)
    {
        long start = -1, previous = -2;
        foreach (long page in set.Pages())
        {
            if (page != previous + 1)
            {
                if (start >= 0) yield return (start, previous - start + 1);
                start = page;
            }
            previous = page;
        }
        if (start >= 0) yield return (start, previous - start + 1);
    }

    /// <summary>An ended VM's vCPUs may wait on pages that will never come: closing the fd wakes them.</summary>
    private void ReleaseMissingPages() => Interlocked.Exchange(ref _missingPages, null)?.Dispose();
}
