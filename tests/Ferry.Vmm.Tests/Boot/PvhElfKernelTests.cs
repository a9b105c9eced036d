using Ferry.Tests.Shared;
using Ferry.Vmm.Boot;

namespace Ferry.Vmm.Tests.Boot;

public sealed class PvhElfKernelTests
{
    /// <summary>An ELF64 with one PT_LOAD at 1 MiB and, optionally, a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY.</summary>
    internal static byte[] Elf(bool withNote, uint entry = 0x100040) =>
        TestElf.Kernel(new byte[0x100], withNote, entry: entry, memorySize: 0x2000);

    [Fact]
    public void Finds_the_pvh_entry_and_the_loadable_segment()
    {
        var k = PvhElfKernel.Parse(Elf(withNote: true), "k");
        Assert.Equal(0x100040u, k.Entry);
        Assert.Equal([new ElfSegment(0x200, 0x100000, 0x100, 0x2000)], k.Segments);
        Assert.Equal(0x102000UL, k.EndAddress);
    }

    [Fact]
    public void Refuses_an_elf_without_a_pvh_note() =>
        Assert.Contains("no PVH entry note", Assert.Throws<VmConfigException>(() => PvhElfKernel.Parse(Elf(withNote: false), "k")).Message);

    [Fact]
    public void Refuses_a_truncated_elf() =>
        Assert.Throws<VmConfigException>(() => PvhElfKernel.Parse(Elf(withNote: true).AsSpan(0, 0x280), "k"));
}
