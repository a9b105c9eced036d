using System.Runtime.InteropServices;

namespace Ferry.Kvm.Interop;

/// <summary>The few libc calls the VMM needs. Every call sets errno; callers check it.</summary>
internal static unsafe partial class LibC
{
    internal const int O_RDWR = 0x2, O_CLOEXEC = 0x80000;
    internal const int PROT_READ = 0x1, PROT_WRITE = 0x2;
    internal const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
    internal const int MADV_DONTNEED = 4, MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15, MADV_DONTDUMP = 16, MADV_POPULATE_WRITE = 23;
    internal const int SIG_BLOCK = 0, SIG_UNBLOCK = 1;
    internal const int EINTR = 4, EAGAIN = 11, ENOMEM = 12, ENOENT = 2, EEXIST = 17;
    internal const int O_NONBLOCK = 0x800;
    internal const long SYS_userfaultfd = 323; // x86-64
    internal const short POLLIN = 0x1;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    // open is variadic in C; a fixed third argument (the mode, with O_CREAT) is passed in the same register on x86-64 and arm64 Linux.
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    internal static partial long Lseek(SafeHandle fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(nint fd);

    // ioctl is variadic in C. A fixed third argument is passed in the same register on x86-64 Linux.
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(SafeHandle fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(SafeHandle fd, nuint request, nuint arg);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    internal static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    internal static partial void* Mmap(void* addr, nuint length, int prot, int flags, SafeHandle fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    internal static partial int Munmap(void* addr, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    internal static partial int Madvise(void* addr, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    internal static partial int Mincore(void* addr, nuint length, byte* vec);

    [LibraryImport("libc", EntryPoint = "gettid")]
    internal static partial int GetTid();

    [LibraryImport("libc", EntryPoint = "getpid")]
    internal static partial int GetPid();

    [LibraryImport("libc", EntryPoint = "tgkill", SetLastError = true)]
    internal static partial int Tgkill(int tgid, int tid, int sig);

    // sigset_t is 128 bytes in glibc; the kernel uses the first 8.
    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    internal static partial int PthreadSigmask(int how, ulong* set, ulong* oldSet);

    [LibraryImport("libc", EntryPoint = "sigtimedwait", SetLastError = true)]
    internal static partial int Sigtimedwait(ulong* set, void* info, Timespec* timeout);

    [LibraryImport("libc", EntryPoint = "signal", SetLastError = true)]
    internal static partial nint Signal(int sig, nint handler);

    [LibraryImport("libc", EntryPoint = "__libc_current_sigrtmin")]
    internal static partial int CurrentSigRtMin();

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall(long number, long arg);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall3(long number, long a, long b, long c);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, ulong a, ulong b, ulong c, ulong d);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int Eventfd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(SafeHandle fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(SafeHandle fd, void* buffer, nuint count);

    // flock(2) operations, sys/file.h; fallocate(2) modes, linux/falloc.h. Checked by tests.
    internal const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
    internal const int FALLOC_FL_KEEP_SIZE = 1, FALLOC_FL_PUNCH_HOLE = 2;
    internal const int EWOULDBLOCK = EAGAIN, EOPNOTSUPP = 95, ENOSYS = 38;
    // open(2)'s O_CREAT, lseek(2)'s SEEK_DATA and SEEK_HOLE and the ENXIO they answer past the last data, fcntl.h / unistd.h. Checked by tests.
    internal const int O_CREAT = 0x40, SEEK_DATA = 3, SEEK_HOLE = 4, ENXIO = 6, EINVAL = 22;

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    internal static partial int Flock(SafeHandle fd, int operation);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    internal static partial int Fdatasync(SafeHandle fd);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    internal static partial int Fallocate(SafeHandle fd, int mode, long offset, long length);

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd { public int Fd; public short Events, Revents; }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec { public long Seconds, Nanoseconds; }
}
