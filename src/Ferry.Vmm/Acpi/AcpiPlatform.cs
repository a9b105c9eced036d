namespace Ferry.Vmm.Acpi;

/// <summary>The fixed hardware the ACPI tables describe. Devices and tables both read these, so they cannot disagree.</summary>
public static class AcpiPlatform
{
    public const ushort Pm1aEventBlock = 0x600;   // PM1a status (2 bytes) and enable (2 bytes)
    public const ushort Pm1aControlBlock = 0x604; // SLP_TYP and SLP_EN
    public const ushort ResetPort = 0xcf9;
    public const byte ResetValue = 0x06;
    public const byte SleepTypeS5 = 5;            // the _S5 SLP_TYP our DSDT gives; writing it with SLP_EN powers off
    public const ushort SciInterrupt = 9;
    public const uint LocalApicAddress = 0xfee00000;
    public const uint IoApicAddress = 0xfec00000;
}
