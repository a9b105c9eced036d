using System.Buffers.Binary;
using Ferry.Tests.Shared;
using Ferry.Vmm.Boot;

namespace Ferry.Vmm.Tests.Boot;

public sealed class BootParamsTests
{
    private static readonly CProbe Header = new("Boot/bootparam-probe.c");

    public static TheoryData<string, int> Offsets => new()
    {
        { "acpi_rsdp_addr", BootParams.AcpiRsdpAddrOffset },
        { "ext_ramdisk_image", BootParams.ExtRamdiskImageOffset },
        { "ext_ramdisk_size", BootParams.ExtRamdiskSizeOffset },
        { "ext_cmd_line_ptr", BootParams.ExtCmdLinePtrOffset },
        { "e820_entries", BootParams.E820EntriesOffset },
        { "hdr", BzImage.HeaderOffset },
        { "hdr.type_of_loader", BootParams.TypeOfLoaderOffset },
        { "hdr.loadflags", BootParams.LoadFlagsOffset },
        { "hdr.ramdisk_image", BootParams.RamdiskImageOffset },
        { "hdr.ramdisk_size", BootParams.RamdiskSizeOffset },
        { "hdr.heap_end_ptr", BootParams.HeapEndPtrOffset },
        { "hdr.cmd_line_ptr", BootParams.CmdLinePtrOffset },
        { "e820_table", BootParams.E820TableOffset },
        { "hdr.setup_sects", 0x1f1 },
        { "hdr.boot_flag", 0x1fe },
        { "hdr.header", 0x202 },
        { "hdr.version", 0x206 },
        { "hdr.initrd_addr_max", 0x22c },
        { "hdr.kernel_alignment", 0x230 },
        { "hdr.xloadflags", 0x236 },
        { "hdr.cmdline_size", 0x238 },
        { "hdr.pref_address", 0x258 },
        { "hdr.init_size", 0x260 },
    };

    [Theory]
    [MemberData(nameof(Offsets))]
    public void Zero_page_offset_matches_asm_bootparam_h(string field, int ours) =>
        Assert.Equal((int)Header.Get("offset", field), ours);

    [Fact]
    public void Zero_page_and_e820_sizes_match_asm_bootparam_h()
    {
        Assert.Equal(BootParams.Size, (int)Header.Get("size", "boot_params"));
        Assert.Equal(BootParams.E820EntrySize, (int)Header.Get("size", "boot_e820_entry"));
        Assert.Equal(BootParams.E820MaxEntries, (int)Header.Get("const", "E820_MAX_ENTRIES_ZEROPAGE"));
    }

    [Fact]
    public void Build_fills_loader_fields_and_the_e820_map()
    {
        var kernel = SyntheticBzImage.Create();
        var e820 = new[] { new E820Entry(0, 0xa0000, E820Type.Ram), new E820Entry(0x100000, 0x3ff00000, E820Type.Ram) };
        var zeroPage = BootParams.Build(kernel, cmdlinePtr: 0x20000, initrdAddress: 0x3f000000, initrdSize: 0x123456, e820, rsdpAddress: 0xe0000);

        Assert.Equal(0xff, zeroPage[BootParams.TypeOfLoaderOffset]);
        Assert.Equal(0x20000u, BinaryPrimitives.ReadUInt32LittleEndian(zeroPage.AsSpan(BootParams.CmdLinePtrOffset)));
        Assert.Equal(0x3f000000u, BinaryPrimitives.ReadUInt32LittleEndian(zeroPage.AsSpan(BootParams.RamdiskImageOffset)));
        Assert.Equal(0x123456u, BinaryPrimitives.ReadUInt32LittleEndian(zeroPage.AsSpan(BootParams.RamdiskSizeOffset)));
        Assert.Equal(0xe0000UL, BinaryPrimitives.ReadUInt64LittleEndian(zeroPage.AsSpan(BootParams.AcpiRsdpAddrOffset)));
        Assert.Equal(2, zeroPage[BootParams.E820EntriesOffset]);
        var second = zeroPage.AsSpan(BootParams.E820TableOffset + BootParams.E820EntrySize);
        Assert.Equal(0x100000UL, BinaryPrimitives.ReadUInt64LittleEndian(second));
        Assert.Equal(0x3ff00000UL, BinaryPrimitives.ReadUInt64LittleEndian(second[8..]));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(second[16..]));
        // The kernel's own setup header is carried over (here: its version).
        Assert.Equal(0x020f, BinaryPrimitives.ReadUInt16LittleEndian(zeroPage.AsSpan(0x206)));
    }
}
