using Ferry.Kvm.Structs;
using Ferry.Vmm.Cpu;

namespace Ferry.Vmm.Tests.Cpu;

public sealed class CpuidFilterTests
{
    private static KvmCpuidEntry2[] Supported() =>
    [
        new() { Function = 1, Ebx = 0x00000800, Ecx = 0xfffa3203 | (1u << 13), Edx = 0 },
        new() { Function = 7, Index = 0, Edx = 1u << 29 },
        new() { Function = 0xb, Index = 0, Edx = 0 },
        new() { Function = 0xb, Index = 1, Edx = 0 },
        new() { Function = 0x40000001, Eax = 0x1234 },
    ];

    [Fact]
    public void Each_vcpu_reports_its_own_apic_id()
    {
        var e = CpuidFilter.ForVcpu(Supported(), apicId: 3, cpuCount: 4);
        Assert.Equal(3u, e[0].Ebx >> 24);
        Assert.Equal(4u, (e[0].Ebx >> 16) & 0xff);
        Assert.Equal(0x08u, (e[0].Ebx >> 8) & 0xff); // CLFLUSH line size kept
        Assert.All(e.Where(x => x.Function == 0xb), x => Assert.Equal(3u, x.Edx));
    }

    [Fact]
    public void Features_the_emulator_lacks_are_hidden()
    {
        var e = CpuidFilter.ForVcpu(Supported(), 0, 1);
        Assert.Equal(0u, e[0].Ecx & (1u << 13));  // CX16
        Assert.Equal(0u, e[1].Edx & (1u << 29));  // ARCH_CAPABILITIES
        Assert.NotEqual(0u, e[0].Ecx & (1u << 31)); // hypervisor present
    }

    [Fact]
    public void Other_leaves_pass_through_unchanged() =>
        Assert.Equal(0x1234u, CpuidFilter.ForVcpu(Supported(), 0, 1)[4].Eax);
}
