using Ferry.Kvm;

namespace Ferry.Vmm.Operations;

/// <summary>
/// A `--copy-storage` destination's images: made before the VM is built on them, at the paths of
/// the arriving configuration (the source's, or `ferry receive --disk PATH`). Each is created (or
/// an existing file emptied) at the source's size, reading as zeros until the blocks arrive. A
/// path some VM holds is refused untouched: on the source's own host that is the source's image,
/// so a copy can never overwrite the disk it copies.
/// </summary>
public sealed class CopiedDiskImages
{
    private readonly List<string> _created = [];

    /// <summary>The images this receive created (not the existing files it emptied): a failed receive deletes them.</summary>
    public IReadOnlyList<string> Created => _created;

    /// <summary>Creates or empties every image at its size; throws VmConfigException with one line.</summary>
    public void Prepare(VmConfig config, IReadOnlyList<long> sizes)
    {
        if (config.Disks.Length != sizes.Count)
            throw new VmConfigException($"the source copies {sizes.Count} disk(s) and its configuration names {config.Disks.Length}");
        for (int i = 0; i < sizes.Count; i++)
        {
            var disk = config.Disks[i];
            string path = disk.Path;
            if (disk.ReadOnly) throw new VmConfigException($"disk {path} is readonly, and --copy-storage copies only writable disks");
            string full = Path.GetFullPath(path);
            string? directory = Path.GetDirectoryName(full);
            if (directory is not null && !Directory.Exists(directory))
                throw new VmConfigException($"disk {path}: no such directory {directory} (--copy-storage creates the image there; create it, or give ferry receive --disk another path)");
            if (Directory.Exists(full)) throw new VmConfigException($"disk {path} is a directory, not an image file");
            Microsoft.Win32.SafeHandles.SafeFileHandle file;
            bool created;
            try { file = HostFile.OpenOrCreate(full, out created); }
            catch (KvmException e)
            {
                throw new VmConfigException($"disk {path} cannot be created for the copy: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(e.Errno)}");
            }
            using (file)
            {
                if (created) _created.Add(full);
                if (!HostFile.TryLock(file, exclusive: true))
                    throw new VmConfigException($"disk {path} is in use by another VM; --copy-storage writes an image of its own " +
                                                "(on the source's host, give ferry receive --disk a new path)");
                RandomAccess.SetLength(file, 0); // an old file's contents must not show through the holes
                RandomAccess.SetLength(file, sizes[i]);
            } // closing drops the lock; the VM takes its own as soon as it exists
        }
    }

    /// <summary>After a failed receive: removes the images it created (files it only emptied stay).</summary>
    public void DeleteCreated()
    {
        foreach (string path in _created)
        {
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort: the receive failed for another reason */ }
        }
        _created.Clear();
    }
}
