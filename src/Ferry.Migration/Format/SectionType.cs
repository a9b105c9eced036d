namespace Ferry.Migration.Format;

/// <summary>
/// The sections of a VM image, in the order they appear. A snapshot file and a cold-migration
/// stream are the same sequence of sections. Add new types at the end; never renumber.
/// </summary>
public enum SectionType : uint
{
    /// <summary>Format magic and version, the VM's memory layout.</summary>
    Header = 1,
    /// <summary>The VM's configuration, opaque to the engine: what the destination needs to create a matching VM.</summary>
    Configuration = 2,
    /// <summary>Guest RAM: runs of non-zero pages. Many such sections; pages not in any are zero.</summary>
    Memory = 3,
    /// <summary>vCPUs and devices, opaque to the engine.</summary>
    DeviceState = 4,
    /// <summary>Section count and a hash over every section: the image is complete.</summary>
    End = 5,
    /// <summary>Runs of pages that are zero now (a live migration resends a page that was cleared): <c>(u64 gpa | u32 count | u32 0)*</c>.</summary>
    ZeroPages = 6,
    /// <summary>A Memory payload compressed with LZ4 (block format): <c>u32 uncompressed length | LZ4 block</c>.</summary>
    CompressedMemory = 7,
    /// <summary>A digest of the guest's non-zero pages at the source, taken while paused (optional, for verification).</summary>
    MemoryDigest = 8,
    /// <summary>A live round ends on this stream (u32 round number): the destination acknowledges once every stream applied it.</summary>
    RoundEnd = 9,
    /// <summary>
    /// Post-copy switchover: the pages the source still holds and the destination must fetch, a
    /// bitmap per region (<c>u32 regions | (u64 gpa | u64 pages | u64 words[])*</c>). The VM runs
    /// at the destination before they arrive; any other page it lacks is zero.
    /// </summary>
    PostCopyPages = 10,
    /// <summary>`--copy-storage`: the sizes of the disks that travel with the VM (<c>u32 disks | u32 0 | u64 size*</c>), right after the Header.</summary>
    DiskImages = 11,
    /// <summary>`--copy-storage`: runs of a disk's bytes, <c>(u32 disk | u32 flags | u64 offset | u64 length | data)*</c>; flags 1 = zeros, no data. Stream 0 only.</summary>
    DiskBlocks = 12,
    /// <summary>
    /// `--copy-storage` post-copy switchover, after PostCopyPages: per disk, the bitmap of blocks
    /// the destination must still get (<c>u32 disks | u32 0 | (u64 blocks | u64 words[])*</c>);
    /// its guest's reads of them wait until they arrive (Storage/MissingDiskBlocks).
    /// </summary>
    PostCopyDiskBlocks = 13,
}

public static class SectionNames
{
    public static string Of(SectionType type) => type switch
    {
        SectionType.Header => "header",
        SectionType.Configuration => "configuration",
        SectionType.Memory => "memory",
        SectionType.DeviceState => "device state",
        SectionType.End => "end",
        SectionType.ZeroPages => "zero pages",
        SectionType.CompressedMemory => "compressed memory",
        SectionType.MemoryDigest => "memory digest",
        SectionType.RoundEnd => "round end",
        SectionType.PostCopyPages => "post-copy pages",
        SectionType.DiskImages => "disk images",
        SectionType.DiskBlocks => "disk blocks",
        SectionType.PostCopyDiskBlocks => "post-copy disk blocks",
        _ => $"unknown section {(uint)type}",
    };
}
