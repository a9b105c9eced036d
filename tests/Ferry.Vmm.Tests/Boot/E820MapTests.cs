using Ferry.Vmm.Boot;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm.Tests.Boot;

public sealed class E820MapTests
{
    [Fact]
    public void A_small_guest_has_low_ram_the_bios_hole_and_the_rest()
    {
        var e820 = E820Map.For(new GuestMemoryMap(1UL << 30));
        Assert.Equal([
            new E820Entry(0, 0xa0000, E820Type.Ram),
            new E820Entry(0xe0000, 0x20000, E820Type.Reserved),
            new E820Entry(0x100000, (1UL << 30) - 0x100000, E820Type.Ram),
        ], e820);
        Assert.Equal(1023UL, E820Map.UsableMiB(e820));
    }

    [Fact]
    public void A_large_guest_continues_above_4_GiB()
    {
        var e820 = E820Map.For(new GuestMemoryMap(16UL << 30));
        Assert.Equal(new E820Entry(4UL << 30, 13UL << 30, E820Type.Ram), e820[^1]);
        Assert.Equal(3UL << 30, e820[2].Address + e820[2].SizeBytes);
        // 16 GiB less the 384 KiB hole below 1 MiB, rounded down.
        Assert.Equal((16UL << 10) - 1, E820Map.UsableMiB(e820));
    }
}
