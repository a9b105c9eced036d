using Ferry.Kvm;
using Ferry.Kvm.Structs;
using Ferry.Migration.Vm;

namespace Ferry.Vmm.Memory;

/// <summary>Guest RAM: one lazily populated host mapping, registered with KVM as one slot per region.</summary>
public sealed class GuestMemory : IDisposable
{
    private readonly HostMemory _host;
    private const int PrefaultThreshold = 64 * 1024;

    public GuestMemory(GuestMemoryMap map)
    {
        Map = map;
        _host = HostMemory.MapAnonymous(map.SizeBytes);
        DeviceWrites = new DeviceWriteLog(map);
    }

    public GuestMemoryMap Map { get; }

    /// <summary>Pages Ferry's devices wrote, for the dirty log (KVM sees only vCPU writes).</summary>
    public DeviceWriteLog DeviceWrites { get; }
    public GuestMemoryLayout Layout => new(Map.Regions, HostMemory.PageSize);

    /// <summary>Registers each region as KVM slot i, with dirty logging on or off.</summary>
    public void RegisterSlots(VmFd vm, bool logDirtyPages)
    {
        ulong offset = 0;
        for (int slot = 0; slot < Map.Regions.Count; slot++)
        {
            var region = Map.Regions[slot];
            vm.SetUserMemoryRegion(new KvmUserspaceMemoryRegion
            {
                Slot = (uint)slot,
                Flags = logDirtyPages ? KvmUserspaceMemoryRegion.LogDirtyPages : 0,
                GuestPhysAddr = region.Gpa,
                MemorySize = region.SizeBytes,
                UserspaceAddr = (ulong)_host.Address + offset,
            });
            offset += region.SizeBytes;
        }
    }

    /// <summary>The bytes at [gpa, gpa + length). The range must lie inside one region.</summary>
    public Span<byte> Span(ulong gpa, int length) => _host.Slice(HostOffset(gpa, length), length);

    /// <summary>Where [gpa, gpa + length) lies in the host mapping; throws unless it lies inside one region.</summary>
    private ulong HostOffset(ulong gpa, int length)
    {
        long offset = Map.HostOffset(gpa);
        if (offset < 0 || length > 0 && Map.HostOffset(gpa + (ulong)length - 1) != offset + length - 1)
            throw new ArgumentOutOfRangeException(nameof(gpa), $"guest range {gpa:x}+{length:x} is not RAM");
        return (ulong)offset;
    }

    /// <summary>
    /// The bytes at [gpa, gpa + length) as Memory, for I/O straight into or out of guest RAM;
    /// <paramref name="toFill"/> populates the range first (the caller is about to overwrite it).
    /// </summary>
    public Memory<byte> Memory(ulong gpa, int length, bool toFill)
    {
        ulong offset = HostOffset(gpa, length);
        if (toFill && length >= PrefaultThreshold) _host.Prefault(offset, (ulong)length);
        return _host.Memory(offset, length);
    }

    public void Write(ulong gpa, ReadOnlySpan<byte> data)
    {
        // Large writes land in fresh memory (kernels, initrds, restored and migrated RAM):
        // populate the range in one call rather than take a fault per page.
        if (data.Length >= PrefaultThreshold && Map.HostOffset(gpa) is var offset and >= 0)
            _host.Prefault((ulong)offset, (ulong)data.Length);
        // Large writes (kernels, initrds) are split so each piece fits an int-sized span.
        const int Chunk = 1 << 30;
        for (int done = 0; done < data.Length; done += Chunk)
        {
            int n = Math.Min(Chunk, data.Length - done);
            data.Slice(done, n).CopyTo(Span(gpa + (ulong)done, n));
        }
    }

    /// <summary>Marks the pages of <paramref name="region"/> that are resident in host RAM.</summary>
    public PageSet ResidentPages(MemoryRegion region)
    {
        var set = new PageSet(region, HostMemory.PageSize);
        long hostOffset = Map.HostOffset(region.Gpa);
        const long ChunkPages = 1 << 18;
        var vec = new byte[ChunkPages];
        for (long first = 0; first < set.PageCount; first += ChunkPages)
        {
            long n = Math.Min(ChunkPages, set.PageCount - first);
            _host.GetResidentPages((ulong)(hostOffset + first * HostMemory.PageSize), (ulong)n * HostMemory.PageSize, vec);
            for (long i = 0; i < n; i++)
                if ((vec[i] & 1) != 0) set.Add(first + i);
        }
        return set;
    }

    /// <summary>Where the whole of guest RAM starts in this process (one mapping, regions back to back).</summary>
    public nint HostBase => _host.Address;

    /// <summary>The host address of [gpa, gpa + length), which must lie inside one region.</summary>
    public nint HostAddress(ulong gpa, int length) => _host.Address + (nint)HostOffset(gpa, length);

    /// <summary>The guest-physical page holding host address <paramref name="address"/>, or null outside guest RAM.</summary>
    public ulong? GpaOf(nint address)
    {
        long offset = (long)address - (long)_host.Address;
        if (offset < 0 || (ulong)offset >= Map.SizeBytes) return null;
        ulong start = 0;
        foreach (var region in Map.Regions)
        {
            if ((ulong)offset < start + region.SizeBytes) return region.Gpa + ((ulong)offset - start) / (ulong)HostMemory.PageSize * (ulong)HostMemory.PageSize;
            start += region.SizeBytes;
        }
        return null;
    }

    /// <summary>Drops the pages of [gpa, gpa + length) (they read as zero, or fault once registered with userfaultfd).</summary>
    public void Discard(ulong gpa, ulong length)
    {
        if (length == 0) return;
        _host.Discard(HostOffset(gpa, checked((int)Math.Min(length, int.MaxValue))), length);
    }

    public void Dispose() => _host.Dispose();
}
