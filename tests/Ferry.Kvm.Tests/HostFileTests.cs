using Microsoft.Win32.SafeHandles;

namespace Ferry.Kvm.Tests;

public sealed class HostFileTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"ferry-hostfile-{Guid.NewGuid():N}");

    public HostFileTests() => File.WriteAllBytes(_path, new byte[64 * 1024]);

    public void Dispose() => File.Delete(_path);

    private SafeFileHandle Open() => HostFile.Open(_path, writable: true);

    [Fact]
    public void An_exclusive_lock_refuses_a_second_open_file_until_released()
    {
        using var first = Open();
        using var second = Open();
        Assert.True(HostFile.TryLock(first, exclusive: true));
        Assert.False(HostFile.TryLock(second, exclusive: true));
        Assert.False(HostFile.TryLock(second, exclusive: false));
        HostFile.Unlock(first);
        Assert.True(HostFile.TryLock(second, exclusive: true));
    }

    [Fact]
    public void Shared_locks_coexist_but_refuse_a_writer()
    {
        using var a = Open();
        using var b = Open();
        using var c = Open();
        Assert.True(HostFile.TryLock(a, exclusive: false));
        Assert.True(HostFile.TryLock(b, exclusive: false));
        Assert.False(HostFile.TryLock(c, exclusive: true));
    }

    [Fact]
    public void Closing_the_file_releases_its_lock()
    {
        using (var first = Open()) Assert.True(HostFile.TryLock(first, exclusive: true));
        using var second = Open();
        Assert.True(HostFile.TryLock(second, exclusive: true));
    }

    [Fact]
    public void Open_reports_a_missing_file_by_errno()
    {
        var e = Assert.Throws<KvmException>(() => HostFile.Open(_path + ".none", writable: false));
        Assert.Equal(2, e.Errno);
    }

    [Fact]
    public void DataSync_and_PunchHole_work_on_a_regular_file()
    {
        using var file = Open();
        RandomAccess.Write(file, Enumerable.Repeat((byte)0xab, 8192).ToArray(), 4096);
        HostFile.DataSync(file);
        if (!HostFile.PunchHole(file, 4096, 4096)) return; // this file system cannot: nothing more to check
        var back = new byte[8192];
        RandomAccess.Read(file, back, 4096);
        Assert.All(back[..4096], b => Assert.Equal(0, b));
        Assert.All(back[4096..], b => Assert.Equal(0xab, b));
        Assert.Equal(64 * 1024, RandomAccess.GetLength(file));
    }

    [Fact]
    public async Task An_eventfd_counts_signals_and_a_wait_resets_it()
    {
        using var e = new EventFd();
        e.Signal();
        e.Signal();
        Assert.Equal(2UL, e.Wait());
        var waiter = Task.Run(e.Wait);
        e.Signal();
        Assert.Equal(1UL, await waiter);
    }

    [Fact]
    public void Data_extents_skip_the_holes_of_a_sparse_file()
    {
        using (var file = Open())
        {
            RandomAccess.SetLength(file, 8 << 20);
            HostFile.PunchHole(file, 0, 8 << 20);
            RandomAccess.Write(file, new byte[] { 1 }, 3 << 20);
            var extents = HostFile.DataExtents(file, 8 << 20);
            // tmpfs and ext4 report the written page or block; a file system without holes reports it all.
            Assert.NotEmpty(extents);
            Assert.Contains(extents, e => e.Offset <= 3 << 20 && e.Offset + e.Length > 3 << 20);
            if (extents.Count == 1 && extents[0] == (0, 8 << 20)) return;
            Assert.True(extents.Sum(e => e.Length) <= 1 << 20);
        }
    }

    [Fact]
    public void Open_or_create_says_whether_it_made_the_file()
    {
        string path = _path + ".new";
        try
        {
            using (var made = HostFile.OpenOrCreate(path, out bool created)) Assert.True(created);
            using (var again = HostFile.OpenOrCreate(path, out bool created)) Assert.False(created);
        }
        finally { File.Delete(path); }
    }
}
