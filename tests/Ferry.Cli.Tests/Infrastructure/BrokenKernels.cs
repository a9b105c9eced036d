using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>Small kernels made on the spot for the error paths.</summary>
public static class BrokenKernels
{
    /// <summary>A PVH ELF whose first instruction is ud2 with no IDT: #UD, #DF, then a triple fault.</summary>
    public static byte[] TripleFault() => TestElf.Kernel(code: [0x0f, 0x0b], withPvhNote: true);

    /// <summary>An ELF kernel without a PVH note.</summary>
    public static byte[] WithoutPvhNote() => TestElf.Kernel(code: [0xf4], withPvhNote: false);
}
