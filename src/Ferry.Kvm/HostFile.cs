using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Kvm;

/// <summary>The few file calls .NET does not offer: flock(2), fdatasync(2), fallocate(2)'s hole punching and lseek(2)'s SEEK_DATA/SEEK_HOLE.</summary>
public static class HostFile
{
    /// <summary>
    /// open(2) read-write or read-only, close-on-exec. Not File.OpenHandle: .NET takes a flock of
    /// its own on Unix for FileShare, which would collide with <see cref="TryLock"/>. Throws
    /// KvmException with the errno (ENOENT, EACCES, EROFS...).
    /// </summary>
    public static SafeFileHandle Open(string path, bool writable)
    {
        int fd = LibC.Open(path, (writable ? LibC.O_RDWR : 0) | LibC.O_CLOEXEC);
        if (fd < 0) throw new KvmException("open", Marshal.GetLastPInvokeError());
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// open(2) read-write with O_CREAT (mode 0600 before the umask), close-on-exec, without .NET's
    /// own flock. <paramref name="created"/> says whether the file did not exist before.
    /// </summary>
    public static SafeFileHandle OpenOrCreate(string path, out bool created)
    {
        int fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        created = false;
        if (fd < 0 && Marshal.GetLastPInvokeError() == LibC.ENOENT)
        {
            fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC | LibC.O_CREAT, 0x180 /* 0600 */);
            created = fd >= 0;
        }
        if (fd < 0) throw new KvmException("open", Marshal.GetLastPInvokeError());
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// The ranges of the file that may hold data, in order (lseek SEEK_DATA/SEEK_HOLE); the rest
    /// are holes and read as zeros. A file system without them answers with the whole file.
    /// </summary>
    public static IReadOnlyList<(long Offset, long Length)> DataExtents(SafeFileHandle file, long sizeBytes)
    {
        var extents = new List<(long, long)>();
        long at = 0;
        while (at < sizeBytes)
        {
            long data = LibC.Lseek(file, at, LibC.SEEK_DATA);
            if (data < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.ENXIO) break; // no data after at
                if (errno == LibC.EINVAL && at == 0) return [(0, sizeBytes)];
                throw new KvmException("lseek", errno);
            }
            long hole = LibC.Lseek(file, data, LibC.SEEK_HOLE);
            if (hole < 0) throw new KvmException("lseek", Marshal.GetLastPInvokeError());
            hole = Math.Min(hole, sizeBytes);
            if (hole > data) extents.Add((data, hole - data));
            at = Math.Max(hole, data + 1);
        }
        return extents;
    }

    /// <summary>
    /// flock(LOCK_EX or LOCK_SH | LOCK_NB). False when another open file holds a conflicting lock.
    /// The lock belongs to the open file: it goes when the last descriptor of it is closed.
    /// </summary>
    public static bool TryLock(SafeFileHandle file, bool exclusive)
    {
        while (true)
        {
            if (LibC.Flock(file, (exclusive ? LibC.LOCK_EX : LibC.LOCK_SH) | LibC.LOCK_NB) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EWOULDBLOCK) return false;
            if (errno != LibC.EINTR) throw new KvmException("flock", errno);
        }
    }

    /// <summary>flock(LOCK_UN).</summary>
    public static void Unlock(SafeFileHandle file)
    {
        if (LibC.Flock(file, LibC.LOCK_UN) != 0) throw new KvmException("flock", Marshal.GetLastPInvokeError());
    }

    /// <summary>fdatasync: the file's data (and the metadata needed to read it back) reach the disk.</summary>
    public static void DataSync(SafeFileHandle file)
    {
        while (LibC.Fdatasync(file) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR) throw new KvmException("fdatasync", errno);
        }
    }

    /// <summary>
    /// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): the range reads as zeros and frees
    /// its blocks; the file keeps its size. False when the file system cannot punch holes.
    /// </summary>
    public static bool PunchHole(SafeFileHandle file, long offset, long length)
    {
        while (true)
        {
            if (LibC.Fallocate(file, LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno is LibC.EOPNOTSUPP or LibC.ENOSYS) return false;
            if (errno != LibC.EINTR) throw new KvmException("fallocate", errno);
        }
    }
}
