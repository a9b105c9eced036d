namespace Ferry.Vmm.Cpu;

/// <summary>MSR numbers the VMM writes at boot (Intel SDM vol. 4).</summary>
public static class MsrIndex
{
    public const uint Ia32MiscEnable = 0x1a0;
    public const uint MtrrDefType = 0x2ff;
    public const uint Ia32Tsc = 0x10;
    public const ulong MiscEnableFastStrings = 1;
    public const ulong MtrrEnableWriteBack = (1 << 11) | 6;
}
