using Ferry.Kvm.Structs;

namespace Ferry.Vmm.Cpu;

/// <summary>
/// Can this host give a restored guest every CPU feature it was booted with? A guest that found
/// AVX-512 at boot will use it; restoring it where KVM cannot offer it would crash it later, so
/// the restore is refused up front, naming what is missing.
/// </summary>
public static class CpuFeatureCheck
{
    private sealed record FeatureWord(uint Function, uint Index, char Register, uint IgnoredBits);

    // Leaves holding feature flags. Ignored: bits KVM or Ferry set per vCPU (hypervisor, OSXSAVE, HTT, APIC).
    private static readonly FeatureWord[] Words =
    [
        new(1, 0, 'c', (1u << 31) | (1u << 27)),
        new(1, 0, 'd', (1u << 28) | (1u << 9)),
        new(7, 0, 'b', 0),
        new(7, 0, 'c', 0),
        new(7, 0, 'd', 0),
        new(0xd, 1, 'a', 0),
        new(0x80000001, 0, 'c', 0),
        new(0x80000001, 0, 'd', 0),
    ];

    private static readonly Dictionary<(uint, char, int), string> Names = new()
    {
        [(1, 'c', 0)] = "sse3", [(1, 'c', 9)] = "ssse3", [(1, 'c', 12)] = "fma", [(1, 'c', 19)] = "sse4.1", [(1, 'c', 20)] = "sse4.2",
        [(1, 'c', 23)] = "popcnt", [(1, 'c', 25)] = "aes", [(1, 'c', 26)] = "xsave", [(1, 'c', 28)] = "avx", [(1, 'c', 30)] = "rdrand",
        [(7, 'b', 3)] = "bmi1", [(7, 'b', 5)] = "avx2", [(7, 'b', 8)] = "bmi2", [(7, 'b', 16)] = "avx512f", [(7, 'b', 18)] = "rdseed",
        [(7, 'b', 17)] = "avx512dq", [(7, 'b', 30)] = "avx512bw", [(7, 'b', 31)] = "avx512vl", [(7, 'c', 11)] = "avx512vnni",
    };

    /// <summary>The features the guest had that the host cannot offer, by name where known.</summary>
    public static IReadOnlyList<string> Missing(ReadOnlySpan<KvmCpuidEntry2> guest, ReadOnlySpan<KvmCpuidEntry2> host)
    {
        var missing = new List<string>();
        foreach (var word in Words)
        {
            uint want = Register(guest, word), have = Register(host, word);
            uint lacking = want & ~have & ~word.IgnoredBits;
            for (int bit = 0; bit < 32; bit++)
                if ((lacking & (1u << bit)) != 0)
                    missing.Add(Names.TryGetValue((word.Function, word.Register, bit), out var name)
                        ? name : $"cpuid 0x{word.Function:x}.{word.Index} {word.Register}x bit {bit}");
        }
        return missing;
    }

    private static uint Register(ReadOnlySpan<KvmCpuidEntry2> entries, FeatureWord word)
    {
        foreach (var e in entries)
            if (e.Function == word.Function && e.Index == word.Index)
                return word.Register switch { 'a' => e.Eax, 'b' => e.Ebx, 'c' => e.Ecx, _ => e.Edx };
        return 0;
    }
}
