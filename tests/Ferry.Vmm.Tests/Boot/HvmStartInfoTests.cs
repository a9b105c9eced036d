using System.Buffers.Binary;
using Ferry.Vmm.Boot;

namespace Ferry.Vmm.Tests.Boot;

public sealed class HvmStartInfoTests
{
    [Fact]
    public void Start_info_carries_magic_cmdline_rsdp_module_and_memmap()
    {
        var memmap = new[] { new E820Entry(0, 0xa0000, E820Type.Ram), new E820Entry(0xe0000, 0x20000, E820Type.Reserved) };
        var parts = HvmStartInfo.Build(0x20000, 0xe0000, (0x3f000000, 0x5000), memmap).ToDictionary(p => p.Gpa, p => p.Bytes);

        var info = parts[BootLayout.HvmStartInfo];
        Assert.Equal(HvmStartInfo.Size, info.Length);
        Assert.Equal(HvmStartInfo.Magic, BinaryPrimitives.ReadUInt32LittleEndian(info));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(4)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(12)));
        Assert.Equal(BootLayout.HvmModlist, BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(16)));
        Assert.Equal(0x20000UL, BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(24)));
        Assert.Equal(0xe0000UL, BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(32)));
        Assert.Equal(BootLayout.HvmMemmap, BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(40)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(48)));

        var module = parts[BootLayout.HvmModlist];
        Assert.Equal(0x3f000000UL, BinaryPrimitives.ReadUInt64LittleEndian(module));
        Assert.Equal(0x5000UL, BinaryPrimitives.ReadUInt64LittleEndian(module.AsSpan(8)));

        var map = parts[BootLayout.HvmMemmap];
        Assert.Equal(2 * HvmStartInfo.MemmapEntrySize, map.Length);
        Assert.Equal(0xe0000UL, BinaryPrimitives.ReadUInt64LittleEndian(map.AsSpan(24)));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(map.AsSpan(40)));
    }

    [Fact]
    public void Boot_structures_do_not_overlap()
    {
        Assert.True(BootLayout.HvmStartInfo + HvmStartInfo.Size <= BootLayout.HvmModlist);
        Assert.True(BootLayout.HvmModlist + HvmStartInfo.ModlistEntrySize <= BootLayout.HvmMemmap);
        Assert.True(BootLayout.HvmMemmap + (ulong)(BootLayout.HvmMemmapCapacity * HvmStartInfo.MemmapEntrySize) <= BootLayout.ZeroPage);
        Assert.True(BootLayout.ZeroPage + 4096 <= BootLayout.Pml4);
        Assert.True(BootLayout.PageDirectories + 4 * 4096 <= BootLayout.CommandLine);
    }
}
