namespace Ferry.Vmm.Tests.Devices.Virtio;

/// <summary>A raw image file in the temp directory, deleted afterwards.</summary>
public sealed class TempImage : IDisposable
{
    public TempImage(int sizeBytes = 1 << 20, Func<int, byte>? fill = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ferry-disk-{Guid.NewGuid():N}.img");
        var bytes = new byte[sizeBytes];
        if (fill is not null) for (int i = 0; i < bytes.Length; i++) bytes[i] = fill(i);
        File.WriteAllBytes(Path, bytes);
    }

    public string Path { get; }

    public byte[] Read() => File.ReadAllBytes(Path);

    public void Dispose() => File.Delete(Path);
}
