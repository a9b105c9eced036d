using System.Globalization;
using Ferry.Agent.Api;
using Ferry.Agent.Vms;

namespace Ferry.Agent.Migrations;

/// <summary>
/// `--copy-storage` between agents. The source checks that the VM's disks can travel and says how
/// big they are. The destination gives them images of its own (vms/NAME/disks/diskN.img), never
/// the definition's paths: those name the source's files, which on hosts sharing a filesystem are
/// the very images the source VM writes. A failed receive removes the images it was given.
/// </summary>
public sealed partial class MigrationCoordinator
{
    /// <summary>Source side: each disk's image size, for the destination to make room; refuses a VM whose disks cannot be copied.</summary>
    private static IReadOnlyList<ulong> CopiedDiskSizes(VmRecord record)
    {
        if (record.Disks.Count == 0)
            throw new AgentException($"{record.Name} has no disks, so --copy-storage has nothing to copy: leave it out");
        // The VMM copies only writable disks; refused here, before a receiver is prepared for nothing.
        if (record.Disks.FirstOrDefault(d => d.ReadOnly) is { } readOnly)
            throw new AgentException($"--copy-storage copies only writable disks, and {record.Name}'s disk {readOnly.Id} ({readOnly.Path}) is readonly");
        try { return [.. record.Disks.Select(d => (ulong)new FileInfo(d.Path).Length)]; }
        catch (IOException e) { throw new AgentException($"{record.Name}'s disk images cannot be read for --copy-storage: {e.Message}"); }
    }

    /// <summary>
    /// Destination side: an empty image of this host's own for each disk the source copies, made
    /// once the state directory's filesystem has room for all of them; returns the disks at their
    /// new paths. Made before the receiver is launched because the jail binds each image into it
    /// (as "share", like every disk: the file stays the agent's, with an ACL entry for the VMM's
    /// uid, so a later start under another uid opens it the same way); the receiver sizes and fills them.
    /// Their size stays promised (<see cref="_copiesInFlight"/>) until the receive is settled.
    /// </summary>
    private IReadOnlyList<VmDisk> CreateCopiedDisks(VmDefinition d, IReadOnlyList<ulong> sizes)
    {
        if (sizes.Count != d.Disks.Count)
            throw new AgentException($"the source copies {sizes.Count} disk image(s) and {d.Name}'s definition names {d.Disks.Count}");
        // Every byte of each image, not only the blocks that hold data now: the guest may fill its
        // disk later, and a host that cannot hold it then fails the guest's writes. Measured on the
        // state directory itself, which exists (vms/NAME/disks is made only once there is room).
        // The copies other receives are making count as taken: their images are sparse until filled.
        ulong needed = sizes.Aggregate(0UL, (sum, size) => sum + size);
        ulong free = (ulong)new DriveInfo(state.Root).AvailableFreeSpace;
        lock (_lock)
        {
            ulong promised = _copiesInFlight.Where(c => c.Key != d.Name).Aggregate(0UL, (sum, c) => sum + c.Value);
            ulong left = free > promised ? free - promised : 0;
            if (needed > left)
                throw new AgentException($"not enough free space for {d.Name}'s disk images: they need {Size(needed)} and this agent's state directory {state.Root} has {Size(free)} free" +
                                         (promised > 0 ? $", {Size(promised)} of it promised to the copies being received now" : ""));
            _copiesInFlight[d.Name] = needed;
        }
        string directory = state.CopiedDisksDirectory(d.Name);

        var own = d.Clone();
        var created = new List<string>();
        try
        {
            Directory.CreateDirectory(directory);
            for (int i = 0; i < own.Disks.Count; i++)
            {
                string path = state.CopiedDiskPath(d.Name, i);
                // Truncated: an image left from an earlier stay here must not show through the copy's holes.
                using (new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite })) { }
                created.Add(path);
                own.Disks[i].Path = path;
            }
            return VmDevices.Disks(own);
        }
        catch (Exception e)
        {
            lock (_lock) _copiesInFlight.Remove(d.Name);
            DeleteImages(created);
            if (e is IOException or UnauthorizedAccessException) throw new AgentException($"cannot create {d.Name}'s disk images in {directory}: {e.Message}");
            throw;
        }
    }

    /// <summary>The bytes of copied images each receive in progress here will fill, by VM: another copy's room check counts them as taken.</summary>
    private readonly Dictionary<string, ulong> _copiesInFlight = [];

    /// <summary>After a failed receive: removes the images this agent made for a copy (the record's disks in vms/NAME/disks).</summary>
    private void RemoveCopiedDisks(VmRecord record)
    {
        string directory = state.CopiedDisksDirectory(record.Name);
        DeleteImages(record.Disks.Select(d => d.Path).Where(p => Path.GetDirectoryName(p) == directory));
        try { if (Directory.Exists(directory)) Directory.Delete(directory); }
        catch (IOException) { /* holds something else: left as it is */ }
    }

    private static void DeleteImages(IEnumerable<string> paths)
    {
        foreach (string path in paths)
        {
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort: the receive failed already */ }
        }
    }

    private static string Size(ulong bytes) => bytes >= 1UL << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1UL << 30):F1} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1UL << 20):F1} MiB");
}
