using Microsoft.Win32.SafeHandles;

namespace Ferry.Vmm.Boot;

/// <summary>An initrd on disk, read straight into guest RAM once its place is known (no copy through the VMM's heap).</summary>
public sealed class InitrdFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private InitrdFile(string path, SafeFileHandle handle, long length) { Path = path; _handle = handle; Length = length; }

    public string Path { get; }
    public long Length { get; }

    public static InitrdFile Open(string path)
    {
        try
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            return new InitrdFile(path, handle, RandomAccess.GetLength(handle));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VmConfigException($"cannot read initrd {path}: {e.Message}");
        }
    }

    /// <summary>Fills <paramref name="destination"/> (exactly Length bytes) from the file.</summary>
    public void ReadInto(Span<byte> destination)
    {
        long done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[(int)done..], done);
            if (n == 0) throw new VmConfigException($"initrd {Path} shrank while it was being read");
            done += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}
