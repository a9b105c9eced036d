using System.Buffers.Binary;

namespace Ferry.Vmm.Boot;

/// <summary>
/// Builds the Linux "zero page" (struct boot_params, arch/x86/include/uapi/asm/bootparam.h): the
/// kernel's own setup header copied in, then what the boot loader fills: loader type, command
/// line, initrd, the e820 map and the ACPI RSDP address.
/// </summary>
public static class BootParams
{
    public const int Size = 4096;
    public const int AcpiRsdpAddrOffset = 0x070;
    public const int ExtRamdiskImageOffset = 0x0c0;
    public const int ExtRamdiskSizeOffset = 0x0c4;
    public const int ExtCmdLinePtrOffset = 0x0c8;
    public const int E820EntriesOffset = 0x1e8;
    public const int TypeOfLoaderOffset = 0x210;
    public const int LoadFlagsOffset = 0x211;
    public const int RamdiskImageOffset = 0x218;
    public const int RamdiskSizeOffset = 0x21c;
    public const int HeapEndPtrOffset = 0x224;
    public const int CmdLinePtrOffset = 0x228;
    public const int E820TableOffset = 0x2d0;
    public const int E820EntrySize = 20;
    public const int E820MaxEntries = 128;
    private const byte UndefinedLoader = 0xff;
    private const byte CanUseHeap = 0x80;

    public static byte[] Build(ReadOnlySpan<byte> kernelFile, ulong cmdlinePtr, ulong initrdAddress, ulong initrdSize,
        IReadOnlyList<E820Entry> e820, ulong rsdpAddress)
    {
        if (e820.Count > E820MaxEntries) throw new ArgumentException("too many e820 entries", nameof(e820));
        var zeroPage = new byte[Size];
        // The setup header runs from 0x1f1 to the byte given at 0x201 (+0x202).
        int headerEnd = 0x202 + kernelFile[0x201];
        kernelFile[BzImage.HeaderOffset..headerEnd].CopyTo(zeroPage.AsSpan(BzImage.HeaderOffset));
        var p = zeroPage.AsSpan();
        p[TypeOfLoaderOffset] = UndefinedLoader;
        p[LoadFlagsOffset] |= CanUseHeap;
        BinaryPrimitives.WriteUInt16LittleEndian(p[HeapEndPtrOffset..], 0xfe00);
        BinaryPrimitives.WriteUInt32LittleEndian(p[CmdLinePtrOffset..], (uint)cmdlinePtr);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtCmdLinePtrOffset..], (uint)(cmdlinePtr >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p[RamdiskImageOffset..], (uint)initrdAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtRamdiskImageOffset..], (uint)(initrdAddress >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(p[RamdiskSizeOffset..], (uint)initrdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(p[ExtRamdiskSizeOffset..], (uint)(initrdSize >> 32));
        BinaryPrimitives.WriteUInt64LittleEndian(p[AcpiRsdpAddrOffset..], rsdpAddress);
        p[E820EntriesOffset] = (byte)e820.Count;
        for (int i = 0; i < e820.Count; i++)
        {
            var entry = p.Slice(E820TableOffset + i * E820EntrySize, E820EntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, e820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], e820[i].SizeBytes);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], (uint)e820[i].Type);
        }
        return zeroPage;
    }
}
