using System.Buffers.Binary;

namespace Ferry.Vmm.Boot;

/// <summary>
/// The setup header of a Linux bzImage (Documentation/arch/x86/boot.rst). Ferry uses the 64-bit
/// boot protocol: the protected-mode kernel is copied to its load address and entered in long
/// mode at load address + 0x200 with RSI pointing at boot_params.
/// </summary>
public sealed record BzImage(
    byte SetupSects,
    ushort Version,
    byte LoadFlags,
    ushort XLoadFlags,
    uint InitrdAddrMax,
    uint KernelAlignment,
    uint CmdlineSize,
    ulong PrefAddress,
    uint InitSize,
    int KernelOffset)
{
    public const int HeaderOffset = 0x1f1;
    public const int HeaderEnd = 0x268;          // through init_size (protocol 2.10+)
    private const ushort MinimumVersion = 0x020c; // 2.12: xloadflags, 64-bit entry
    private const ushort XlfKernel64 = 1;
    public const byte LoadedHigh = 1;

    public static bool LooksLikeBzImage(ReadOnlySpan<byte> file) =>
        file.Length > 0x206 && BinaryPrimitives.ReadUInt32LittleEndian(file[0x202..]) == 0x53726448; // "HdrS"

    public static BzImage Parse(ReadOnlySpan<byte> file, string name)
    {
        if (file.Length < HeaderEnd || !LooksLikeBzImage(file))
            throw new VmConfigException($"{name}: not a Linux bzImage (no HdrS signature)");
        if (BinaryPrimitives.ReadUInt16LittleEndian(file[0x1fe..]) != 0xAA55)
            throw new VmConfigException($"{name}: bzImage boot flag is not 0xAA55 (corrupt?)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(file[0x206..]);
        if (version < MinimumVersion)
            throw new VmConfigException($"{name}: boot protocol {version >> 8}.{version & 0xff} is too old (need 2.12 or later)");
        ushort xloadflags = BinaryPrimitives.ReadUInt16LittleEndian(file[0x236..]);
        if ((xloadflags & XlfKernel64) == 0)
            throw new VmConfigException($"{name}: this bzImage has no 64-bit entry point");
        byte setupSects = file[0x1f1] == 0 ? (byte)4 : file[0x1f1];
        int kernelOffset = (setupSects + 1) * 512;
        if (kernelOffset >= file.Length) throw new VmConfigException($"{name}: bzImage is truncated");
        return new BzImage(
            setupSects, version, file[0x211], xloadflags,
            InitrdAddrMax: BinaryPrimitives.ReadUInt32LittleEndian(file[0x22c..]),
            KernelAlignment: BinaryPrimitives.ReadUInt32LittleEndian(file[0x230..]),
            CmdlineSize: BinaryPrimitives.ReadUInt32LittleEndian(file[0x238..]),
            PrefAddress: BinaryPrimitives.ReadUInt64LittleEndian(file[0x258..]),
            InitSize: BinaryPrimitives.ReadUInt32LittleEndian(file[0x260..]),
            KernelOffset: kernelOffset);
    }

    /// <summary>Where the protected-mode kernel goes: its preferred address, at least 1 MiB and aligned as it asks.</summary>
    public ulong LoadAddress
    {
        get
        {
            ulong align = Math.Max(KernelAlignment, 0x1000u);
            ulong address = Math.Max(PrefAddress, BootLayout.HighMemoryStart);
            return (address + align - 1) / align * align;
        }
    }
}
