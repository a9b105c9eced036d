namespace Ferry.Vmm.Boot;

/// <summary>
/// Fixed guest-physical addresses of what the VMM writes before the first instruction runs.
/// All of it sits in the first 640 KiB, except the ACPI tables, which sit in the BIOS area at
/// 0xE0000 where guests that do not get an RSDP pointer scan for one.
/// </summary>
public static class BootLayout
{
    public const ulong Gdt = 0x500;
    public const ulong HvmStartInfo = 0x6000;
    public const ulong HvmModlist = 0x6040;
    public const ulong HvmMemmap = 0x6100;
    public const int HvmMemmapCapacity = 32;
    public const ulong ZeroPage = 0x7000;           // Linux boot_params
    public const ulong Pml4 = 0x9000;               // identity map for the Linux 64-bit entry
    public const ulong Pdpt = 0xA000;
    public const ulong PageDirectories = 0xB000;    // four of them: the first 4 GiB in 2 MiB pages
    public const ulong BootStack = 0x8FF0;
    public const ulong CommandLine = 0x20000;
    public const int CommandLineCapacity = 0x10000;
    public const ulong AcpiStart = 0xE0000;
    public const ulong AcpiEnd = 0x100000;
    public const ulong LowRamEnd = 0xA0000;          // the top of "conventional" memory
    public const ulong HighMemoryStart = 0x100000;   // 1 MiB
}
