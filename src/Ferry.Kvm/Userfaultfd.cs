using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm;

/// <summary>
/// An owned userfaultfd in missing-page mode over ranges of this process's memory (see the
/// kernel's admin-guide/mm/userfaultfd.rst): a thread that touches a registered page not
/// present, a vCPU inside KVM_RUN included, blocks until someone installs it with
/// <see cref="Copy"/> or <see cref="ZeroSkippingPresent"/>. One thread reads the faults; any
/// thread installs. Closed exactly once; closing wakes every waiter (the range then behaves as
/// ordinary memory).
/// </summary>
public sealed unsafe class Userfaultfd : IDisposable
{
    private const int PageSize = HostMemory.PageSize;
    private readonly KvmFd _fd;
    private readonly KvmFd _interrupt; // an eventfd: readable once Interrupt was called

    private Userfaultfd(KvmFd fd, KvmFd interrupt) { _fd = fd; _interrupt = interrupt; }

    /// <summary>Whether faults carry the faulting thread's id (UFFD_FEATURE_THREAD_ID; Linux 4.14+).</summary>
    public bool ReportsThreadId { get; private init; }

    /// <summary>
    /// userfaultfd(O_CLOEXEC | O_NONBLOCK) and the UFFDIO_API handshake (UFFD_API, asking for
    /// UFFD_FEATURE_THREAD_ID and falling back to no features). Nonblocking because the kernel
    /// answers poll() on a blocking userfaultfd with POLLERR at once (a read after poll may
    /// block: the fault can be served before it is read), and <see cref="WaitForFault(TimeSpan, out nint)"/>
    /// polls it together with the eventfd <see cref="Interrupt"/> writes.
    /// </summary>
    public static Userfaultfd Open()
    {
        var handle = OpenFd();
        int efd = LibC.Eventfd(0, LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        if (efd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new KvmException("eventfd", errno);
        }
        var interrupt = new KvmFd(efd);
        try
        {
            // Ask for thread ids (so reports can say which vCPU waited); fall back without them.
            bool threadIds = Handshake(handle, UffdioApi.FeatureThreadId);
            if (!threadIds)
            {
                // Older kernels leave the fd unusable after a refused UFFDIO_API (newer ones allow
                // a retry): start over with a fresh one.
                handle.Dispose();
                handle = OpenFd();
                if (!Handshake(handle, 0)) throw new KvmException("UFFDIO_API", Marshal.GetLastPInvokeError());
            }
            return new Userfaultfd(handle, interrupt) { ReportsThreadId = threadIds };
        }
        catch
        {
            handle.Dispose();
            interrupt.Dispose();
            throw;
        }
    }

    private static KvmFd OpenFd()
    {
        long fd = LibC.Syscall(LibC.SYS_userfaultfd, LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        if (fd >= 0) return new KvmFd((int)fd);
        int errno = Marshal.GetLastPInvokeError();
        // KVM's faults on guest RAM are kernel-mode faults, which the system call hands an
        // unprivileged process only with the sysctl. /dev/userfaultfd hands them to whoever may
        // open it: a jailed VMM gets a node of its own.
        if (errno == 1 /* EPERM */ && File.Exists(DevicePath) && OpenFromDevice() is { } fromDevice) return fromDevice;
        throw new KvmException("userfaultfd", errno, errno == 1
            ? $"post-copy needs root, CAP_SYS_PTRACE, sysctl vm.unprivileged_userfaultfd=1 or access to {DevicePath}" : null);
    }

    private const string DevicePath = "/dev/userfaultfd";

    private static KvmFd? OpenFromDevice()
    {
        int device = LibC.Open(DevicePath, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (device < 0) return null;
        using var deviceFd = new KvmFd(device);
        int fd = LibC.Ioctl(deviceFd, UffdIoctls.USERFAULTFD_IOC_NEW, (nuint)(LibC.O_CLOEXEC | LibC.O_NONBLOCK));
        return fd >= 0 ? new KvmFd(fd) : null;
    }

    private static bool Handshake(KvmFd fd, ulong features)
    {
        var api = new UffdioApi { ApiVersion = UffdioApi.Api, Features = features };
        // Safe because api is a local uffdio_api, the size UFFDIO_API encodes.
        return LibC.Ioctl(fd, UffdIoctls.UFFDIO_API, &api) == 0;
    }

    public void RegisterMissing(nint address, ulong length)
    {
        var reg = new UffdioRegister { Range = new UffdioRange { Start = (ulong)address, Len = length }, Mode = UffdioRegister.ModeMissing };
        // Safe because reg is a local uffdio_register, the size UFFDIO_REGISTER encodes.
        if (LibC.Ioctl(_fd, UffdIoctls.UFFDIO_REGISTER, &reg) != 0)
            throw new KvmException("UFFDIO_REGISTER", Marshal.GetLastPInvokeError());
        // _UFFDIO_COPY is bit 3 and _UFFDIO_ZEROPAGE bit 4 of the ioctls a range allows.
        if ((reg.Ioctls & (1UL << 3)) == 0 || (reg.Ioctls & (1UL << 4)) == 0)
            throw new KvmException("UFFDIO_REGISTER", 95 /* EOPNOTSUPP */, "this memory cannot be filled through userfaultfd");
    }

    public void Unregister(nint address, ulong length)
    {
        var range = new UffdioRange { Start = (ulong)address, Len = length };
        // Safe because range is a local uffdio_range, the size UFFDIO_UNREGISTER encodes.
        if (LibC.Ioctl(_fd, UffdIoctls.UFFDIO_UNREGISTER, &range) != 0)
            throw new KvmException("UFFDIO_UNREGISTER", Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Blocks until a page fault arrives and gives its address, aligned down to its 4 KiB page;
    /// false once <see cref="Interrupt"/> or <see cref="Dispose"/> was called, or at the timeout
    /// (<see cref="Timeout.InfiniteTimeSpan"/> waits for ever).
    /// </summary>
    public bool WaitForFault(TimeSpan timeout, out nint faultAddress) => WaitForFault(timeout, out faultAddress, out _);

    /// <summary>
    /// As <see cref="WaitForFault(TimeSpan, out nint)"/>, also giving the faulting thread (0 if
    /// the kernel does not say, see <see cref="ReportsThreadId"/>). Events other than page faults
    /// (none arrive: Open asks for no such feature) are skipped, not returned: false always means
    /// interrupted or timed out.
    /// </summary>
    public bool WaitForFault(TimeSpan timeout, out nint faultAddress, out int threadId)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan) throw new ArgumentOutOfRangeException(nameof(timeout));
        faultAddress = 0;
        threadId = 0;
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)Math.Ceiling(timeout.TotalMilliseconds);
        bool added = false, addedInterrupt = false;
        try
        {
            // Both fds stay open (their numbers valid) from here to the end, poll and read included;
            // once Dispose has closed them, there is nothing to wait on: interrupted.
            try
            {
                _fd.DangerousAddRef(ref added);
                _interrupt.DangerousAddRef(ref addedInterrupt);
            }
            catch (ObjectDisposedException) { return false; }
            int fd = (int)_fd.DangerousGetHandle(), interrupt = (int)_interrupt.DangerousGetHandle();
            LibC.PollFd* fds = stackalloc LibC.PollFd[2];
            while (true)
            {
                fds[0] = new LibC.PollFd { Fd = fd, Events = LibC.POLLIN };
                fds[1] = new LibC.PollFd { Fd = interrupt, Events = LibC.POLLIN };
                int wait = deadline == long.MaxValue ? -1 : (int)Math.Clamp(deadline - Environment.TickCount64, 0, int.MaxValue);
                // Safe because fds points to two initialised entries on the stack and both fds are held open by the refs above.
                int n = LibC.Poll(fds, 2, wait);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EINTR) continue;
                    throw new KvmException("poll(userfaultfd)", errno);
                }
                if (fds[1].Revents != 0) return false; // Interrupt (the eventfd stays readable for ever)
                if (n == 0) return false;                // timed out
                // POLLERR would mean a blocking or uninitialised fd: Open makes neither.
                if ((fds[0].Revents & LibC.POLLIN) == 0) throw new KvmException("poll(userfaultfd)", 5 /* EIO */, $"revents 0x{fds[0].Revents:x}");
                UffdMsg msg;
                // Safe because msg is a local of exactly the size read asks for, and the fd is nonblocking: a fault
                // another reader took, or one already served, gives EAGAIN rather than a read that never returns.
                nint got;
                try { got = LibC.Read(_fd, &msg, (nuint)sizeof(UffdMsg)); }
                catch (ObjectDisposedException) { return false; } // Dispose came between poll and read
                if (got < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is LibC.EAGAIN or LibC.EINTR) continue;
                    throw new KvmException("read(userfaultfd)", errno);
                }
                if (got != sizeof(UffdMsg) || msg.Event != UffdMsg.EventPagefault) continue;
                faultAddress = (nint)(msg.PagefaultAddress & ~(ulong)(PageSize - 1));
                threadId = ReportsThreadId ? (int)msg.PagefaultPtid : 0;
                return true;
            }
        }
        finally
        {
            if (added) _fd.DangerousRelease();
            if (addedInterrupt) _interrupt.DangerousRelease();
        }
    }

    /// <summary>Makes a thread blocked in <see cref="WaitForFault(TimeSpan, out nint)"/> return false, and every later call too.</summary>
    public void Interrupt()
    {
        ulong one = 1;
        // Safe because one is a local of the 8 bytes an eventfd write takes; a closed fd fails harmlessly.
        try { LibC.Write(_interrupt, &one, 8); } catch (ObjectDisposedException) { }
    }

    /// <summary>
    /// UFFDIO_COPY of <paramref name="source"/> (whole pages) to <paramref name="address"/>, waking
    /// the threads waiting there. Returns the bytes it installed before it met a page already
    /// present (then that page is left as it is); all of them if none was, 0 if the first page is
    /// present. The kernel stops a copy at a present page: it installs and wakes the pages
    /// before it and fails with EAGAIN (<c>copy</c> = bytes installed), and a copy that starts on
    /// a present page fails with EEXIST. EAGAIN with nothing installed (the mapping was changing)
    /// is retried.
    /// </summary>
    public long Copy(nint address, ReadOnlySpan<byte> source)
    {
        if (source.Length % PageSize != 0 || address % PageSize != 0) throw new ArgumentException("UFFDIO_COPY takes whole, aligned pages");
        long done = 0;
        fixed (byte* src = source)
        {
            while (done < source.Length)
            {
                var copy = new UffdioCopy { Dst = (ulong)(address + (nint)done), Src = (ulong)(src + done), Len = (ulong)(source.Length - done) };
                // Safe because src is pinned for the call and copy is a local.
                int rc = LibC.Ioctl(_fd, UffdIoctls.UFFDIO_COPY, &copy);
                if (copy.Copy > 0) done += copy.Copy;
                if (rc == 0) continue;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EEXIST) return done;
                if (errno == LibC.EAGAIN) continue; // the mapping changed under the copy: retry the rest
                throw new KvmException("UFFDIO_COPY", errno);
            }
        }
        return done;
    }

    /// <summary>
    /// Installs <paramref name="source"/> where pages are missing and leaves present ones
    /// unchanged (UFFDIO_WAKE on each, in case a thread faulted on it before it arrived): every
    /// page of the range is present and no thread waits on it afterwards. Returns pages installed.
    /// </summary>
    public int CopySkippingPresent(nint address, ReadOnlySpan<byte> source)
    {
        int installed = 0;
        for (int at = 0; at < source.Length;)
        {
            long n = Copy(address + at, source[at..]);
            installed += (int)(n / PageSize);
            at += (int)n;
            if (at >= source.Length) break;
            // A page that is present: whoever faulted on it before it arrived must still be woken.
            Wake(address + at, PageSize);
            at += PageSize;
        }
        return installed;
    }

    /// <summary>UFFDIO_ZEROPAGE where pages are missing, as <see cref="CopySkippingPresent"/> does; returns pages installed.</summary>
    public int ZeroSkippingPresent(nint address, ulong length)
    {
        if (length % PageSize != 0 || address % PageSize != 0) throw new ArgumentException("UFFDIO_ZEROPAGE takes whole, aligned pages");
        int installed = 0;
        ulong at = 0;
        while (at < length)
        {
            var zero = new UffdioZeropage { Range = new UffdioRange { Start = (ulong)address + at, Len = length - at } };
            // Safe because zero is a local.
            int rc = LibC.Ioctl(_fd, UffdIoctls.UFFDIO_ZEROPAGE, &zero);
            if (zero.Zeropage > 0) { at += (ulong)zero.Zeropage; installed += (int)(zero.Zeropage / PageSize); }
            if (rc == 0) continue;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EAGAIN) continue;
            if (errno != LibC.EEXIST) throw new KvmException("UFFDIO_ZEROPAGE", errno);
            Wake(address + (nint)at, PageSize);
            at += PageSize;
        }
        return installed;
    }

    public void Wake(nint address, ulong length)
    {
        var range = new UffdioRange { Start = (ulong)address, Len = length };
        // Safe because range is a local.
        if (LibC.Ioctl(_fd, UffdIoctls.UFFDIO_WAKE, &range) != 0)
            throw new KvmException("UFFDIO_WAKE", Marshal.GetLastPInvokeError());
    }

    public void Dispose()
    {
        Interrupt();
        _fd.Dispose();
        _interrupt.Dispose();
    }
}
