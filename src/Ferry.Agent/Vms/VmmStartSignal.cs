using System.Runtime.InteropServices;

namespace Ferry.Agent.Vms;

/// <summary>
/// Wakes whoever waits for a starting VMM as soon as it writes to its log or ends: an inotify watch
/// on the log (IN_MODIFY) and a pidfd of the VMM (readable once it has ended), polled together. A
/// receiver's "waiting for a migration" is then seen when it is written, not at the next look of a
/// poll, and a migration waits on it. Null from <see cref="TryOpen"/> where the kernel lacks either
/// (the launcher polls then, as it does for a VMM whose readiness is its control socket).
/// Closing an inotify instance waits for the kernel's SRCU grace period (ms, at times tens of ms),
/// so the instances are kept for the next start instead (as many as starts ran at once), each
/// with its watch removed, which is quick.
/// </summary>
internal sealed partial class VmmStartSignal : IDisposable
{
    private const int InCloseOnExec = 0x80000, InNonBlock = 0x800;
    private const uint InModify = 0x2;
    private const short PollIn = 0x1;

    private static readonly System.Collections.Concurrent.ConcurrentBag<int> IdleInstances = [];

    private readonly int _inotify, _watch, _pidfd;

    private VmmStartSignal(int inotify, int watch, int pidfd) => (_inotify, _watch, _pidfd) = (inotify, watch, pidfd);

    /// <summary>Watches <paramref name="log"/> and process <paramref name="pid"/>; null when either cannot be watched.</summary>
    public static VmmStartSignal? TryOpen(string log, int pid)
    {
        if (!IdleInstances.TryTake(out int inotify) && (inotify = InotifyInit(InCloseOnExec | InNonBlock)) < 0) return null;
        Drain(inotify); // the last start's IN_IGNORED
        int pidfd = -1, watch = -1;
        try { pidfd = PidfdOpen(pid, 0); }
        catch (EntryPointNotFoundException) { } // a libc older than 2.36
        if (pidfd < 0 || (watch = InotifyAddWatch(inotify, log, InModify)) < 0)
        {
            if (pidfd >= 0) Close(pidfd);
            IdleInstances.Add(inotify);
            return null;
        }
        return new VmmStartSignal(inotify, watch, pidfd);
    }

    /// <summary>
    /// Blocks until the log was written to since the last call, the VMM ended, or
    /// <paramref name="timeout"/> passed. The caller looks at the log and the process either way.
    /// </summary>
    public void Wait(TimeSpan timeout)
    {
        Span<PollFd> fds = [new PollFd { Fd = _inotify, Events = PollIn }, new PollFd { Fd = _pidfd, Events = PollIn }];
        Poll(ref MemoryMarshal.GetReference(fds), (nuint)fds.Length, (int)timeout.TotalMilliseconds);
        Drain(_inotify); // the next call waits for writes after this one
    }

    public void Dispose()
    {
        Close(_pidfd);
        InotifyRmWatch(_inotify, _watch);
        IdleInstances.Add(_inotify);
    }

    /// <summary>Reads every queued event (the instance is non-blocking).</summary>
    private static void Drain(int inotify)
    {
        Span<byte> events = stackalloc byte[1024];
        while (Read(inotify, ref MemoryMarshal.GetReference(events), (nuint)events.Length) > 0) { }
    }

    /// <summary>struct pollfd, poll.h.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events, Revents;
    }

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    private static partial int InotifyInit(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "inotify_rm_watch")]
    private static partial int InotifyRmWatch(int fd, int watch);

    [LibraryImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    private static partial int PidfdOpen(int pid, uint flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, ref byte buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
