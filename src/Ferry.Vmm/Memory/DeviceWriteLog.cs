using Ferry.Kvm;
using Ferry.Migration.Vm;

namespace Ferry.Vmm.Memory;

/// <summary>
/// The guest pages Ferry's own threads wrote while dirty logging is on. KVM logs only vCPU
/// writes; virtio devices write guest memory from their I/O threads (disk reads, used rings),
/// so the dirty set a migration sends is KVM's bitmap OR this one, or the destination misses
/// those pages. Devices mark after writing, so a page collected mid-write is marked again.
/// </summary>
public sealed class DeviceWriteLog(GuestMemoryMap map)
{
    private readonly ulong[][] _bits = [.. map.Regions.Select(r => new ulong[(r.SizeBytes / HostMemory.PageSize + 63) / 64])];
    private volatile bool _enabled;

    public void Enable() => _enabled = true;

    public void Disable() => _enabled = false;

    public void Mark(ulong gpa, int length)
    {
        if (!_enabled || length <= 0) return;
        for (int r = 0; r < map.Regions.Count; r++)
        {
            var region = map.Regions[r];
            if (!region.Contains(gpa)) continue;
            ulong first = (gpa - region.Gpa) / HostMemory.PageSize;
            ulong last = Math.Min((gpa + (ulong)length - 1 - region.Gpa) / HostMemory.PageSize, region.SizeBytes / HostMemory.PageSize - 1);
            for (ulong page = first; page <= last; page++)
                Interlocked.Or(ref _bits[r][page / 64], 1UL << (int)(page % 64));
            return;
        }
    }

    /// <summary>Adds the marked pages of region <paramref name="region"/> to <paramref name="set"/> and clears them.</summary>
    public void CollectInto(int region, PageSet set)
    {
        var bits = _bits[region];
        for (int i = 0; i < bits.Length && i < set.Bits.Length; i++)
            if (Volatile.Read(ref bits[i]) != 0) set.Bits[i] |= Interlocked.Exchange(ref bits[i], 0);
    }
}
