using Ferry.Kvm;
using Ferry.Migration.Vm;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Vmm.Devices.Virtio.Blk;

/// <summary>
/// A raw disk image file behind a virtio-blk device. Two VMs never write one image: a writable
/// image is held with flock(LOCK_EX), a readonly one with LOCK_SH, so any number of readers share
/// it and no writer joins them. Opening (existence, permissions, size) and locking are separate
/// steps, because a migration's destination must check its images long before the source lets
/// go of them (docs/devices.md). All I/O is positional (pread/pwrite), from the disk's I/O thread
/// (and, during a `--copy-storage` migration, the engine's reads at the source and writes at the
/// destination, which is how it is an <see cref="IMigratableDisk"/>).
/// </summary>
public sealed class DiskImage : IDisposable, IMigratableDisk
{
    private DiskWriteLog? _writeLog;
    public const int SectorBytes = 512;
    private SafeFileHandle? _file;
    private bool _locked;

    private DiskImage(string path, bool readOnly, SafeFileHandle file, long sizeBytes)
    {
        Path = path;
        ReadOnly = readOnly;
        _file = file;
        SizeBytes = sizeBytes;
    }

    public string Path { get; }
    public bool ReadOnly { get; }
    public long SizeBytes { get; }
    public ulong CapacitySectors => (ulong)SizeBytes / SectorBytes;
    public bool IsLocked => _locked;

    /// <summary>Opens the image (read-write unless <paramref name="readOnly"/>) without locking it. Throws VmConfigException with one line.</summary>
    public static DiskImage Open(string path, bool readOnly)
    {
        var file = OpenFile(path, readOnly);
        try
        {
            long size = RandomAccess.GetLength(file);
            if (size < SectorBytes) throw new VmConfigException($"disk {path} is smaller than one {SectorBytes}-byte sector");
            return new DiskImage(path, readOnly, file, size);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenFile(string path, bool readOnly)
    {
        if (Directory.Exists(path)) throw new VmConfigException($"disk {path} is a directory, not an image file");
        if (!File.Exists(path)) throw new VmConfigException($"disk {path}: no such file");
        try { return HostFile.Open(path, writable: !readOnly); }
        catch (KvmException e) when (!readOnly && e.Errno is 13 /* EACCES */ or 1 /* EPERM */ or 30 /* EROFS */)
        {
            throw new VmConfigException($"disk {path} cannot be opened for writing: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(e.Errno)} (add ,readonly to use it read-only)");
        }
        catch (KvmException e)
        {
            throw new VmConfigException($"disk {path} cannot be opened: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(e.Errno)}");
        }
    }

    /// <summary>Takes the image's lock (exclusive, or shared when readonly); reopens it first after <see cref="Close"/>. Throws VmConfigException when another VM holds it.</summary>
    public void Lock()
    {
        if (_locked) return;
        if (_file is null)
        {
            var file = OpenFile(Path, ReadOnly);
            long size = RandomAccess.GetLength(file);
            if (size != SizeBytes)
            {
                file.Dispose();
                throw new VmConfigException($"disk {Path} changed size while the VM let go of it ({SizeBytes} bytes, now {size})");
            }
            _file = file;
        }
        if (!HostFile.TryLock(_file, exclusive: !ReadOnly))
            throw new VmConfigException($"disk {Path} is in use by another VM");
        _locked = true;
    }

    /// <summary>Closes the image, which drops its lock: for a migration's source once the VM is paused for good.</summary>
    public void Close()
    {
        _file?.Dispose();
        _file = null;
        _locked = false;
    }

    private SafeFileHandle Handle => _file ?? throw new IOException($"disk {Path} is closed");

    public void Read(long offset, Span<byte> destination) => ReadFrom(Handle, offset, destination);

    /// <summary>
    /// The engine's reads at a `--copy-storage` source go through the copy's own read-only handle:
    /// the VM lets go of its image (and lock) at the pause, and a post-copy still reads it after.
    /// </summary>
    void IMigratableDisk.Read(long offset, Span<byte> destination) => ReadFrom(Volatile.Read(ref _copyReader) ?? Handle, offset, destination);

    private static void ReadFrom(SafeFileHandle handle, long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(handle, destination, offset);
            if (n <= 0) { destination.Clear(); return; } // past the end of a file that shrank: zeros
            destination = destination[n..];
            offset += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        RandomAccess.Write(Handle, source, offset);
        Volatile.Read(ref _writeLog)?.Mark(offset, source.Length); // after the bytes landed: a copy read before this is sent again
    }

    public IReadOnlyList<(long Offset, long Length)> DataExtents() => HostFile.DataExtents(Handle, SizeBytes);

    /// <summary>
    /// Tracks the guest's writes and discards by block until the log is disposed (one log at a
    /// time), and opens the copy's read-only handle, which the log's end closes.
    /// </summary>
    public IDiskWriteLog StartWriteLog(int blockBytes)
    {
        var log = new DiskWriteLog(this, blockBytes);
        if (Interlocked.CompareExchange(ref _writeLog, log, null) is not null) throw new InvalidOperationException($"disk {Path} is already being copied");
        try { _copyReader = HostFile.Open(Path, writable: false); }
        catch
        {
            _writeLog = null;
            throw;
        }
        return log;
    }

    internal void StopWriteLog(DiskWriteLog log)
    {
        if (Interlocked.CompareExchange(ref _writeLog, null, log) != log) return;
        Interlocked.Exchange(ref _copyReader, null)?.Dispose();
    }

    private SafeFileHandle? _copyReader;
    private volatile IDiskBlockGate? _gate;

    /// <summary>At a post-copy destination, what the device asks before it touches the image; null once every block is here.</summary>
    public IDiskBlockGate? PostCopyGate => _gate;

    public void SetPostCopyGate(IDiskBlockGate? gate) => _gate = gate;

    /// <summary>fdatasync: what was written reaches the disk.</summary>
    public void Flush()
    {
        HostFile.DataSync(Handle);
        Interlocked.Increment(ref _flushes);
    }

    private long _flushes;

    /// <summary>How many fdatasync calls have completed: tests check a FLUSH request really reached the file.</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>Frees [offset, offset + length) (it then reads as zeros); a no-op where the file system cannot.</summary>
    public void Discard(long offset, long length)
    {
        HostFile.PunchHole(Handle, offset, length);
        Volatile.Read(ref _writeLog)?.Mark(offset, length);
    }

    public void Dispose()
    {
        Close();
        Interlocked.Exchange(ref _copyReader, null)?.Dispose();
    }
}
