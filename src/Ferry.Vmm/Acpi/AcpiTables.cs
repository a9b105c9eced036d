using System.Buffers.Binary;
using System.Text;

namespace Ferry.Vmm.Acpi;

/// <summary>
/// The ACPI tables of a Ferry VM: RSDP → XSDT → {FADT → DSDT, MADT}. Enough for Linux and the
/// test guest to find every vCPU and the interrupt controllers, and to power off through
/// PM1a_CNT with the DSDT's \_S5 sleep type.
/// </summary>
public static class AcpiTables
{
    public const int RsdpSize = 36;

    /// <summary>Lays the tables out from <paramref name="baseGpa"/>; returns the bytes to copy there. The RSDP is first.</summary>
    public static byte[] Build(ulong baseGpa, int cpuCount, int virtioDevices = 0)
    {
        var dsdt = Dsdt(virtioDevices);
        var madt = Madt(cpuCount);
        ulong xsdtAt = baseGpa + Align(RsdpSize);
        ulong fadtAt = xsdtAt + Align(AcpiTable.HeaderSize + 16);
        ulong dsdtAt = fadtAt + Align(276);
        ulong madtAt = dsdtAt + Align(dsdt.Length);
        var fadt = Fadt(dsdtAt);
        var xsdt = new AcpiTable("XSDT", 1).U64(fadtAt).U64(madtAt).ToArray();

        var image = new byte[(int)(madtAt - baseGpa) + madt.Length];
        Rsdp(xsdtAt).CopyTo(image, 0);
        xsdt.CopyTo(image, (int)(xsdtAt - baseGpa));
        fadt.CopyTo(image, (int)(fadtAt - baseGpa));
        dsdt.CopyTo(image, (int)(dsdtAt - baseGpa));
        madt.CopyTo(image, (int)(madtAt - baseGpa));
        return image;
    }

    private static ulong Align(int n) => (ulong)((n + 63) & ~63);

    /// <summary>RSDP revision 2: the first 20 bytes and all 36 bytes each checksum to zero.</summary>
    public static byte[] Rsdp(ulong xsdtAddress)
    {
        var rsdp = new byte[RsdpSize];
        Encoding.ASCII.GetBytes("RSD PTR ", rsdp);
        Encoding.ASCII.GetBytes(AcpiTable.OemId, rsdp.AsSpan(9));
        rsdp[15] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(rsdp.AsSpan(20), RsdpSize);
        BinaryPrimitives.WriteUInt64LittleEndian(rsdp.AsSpan(24), xsdtAddress);
        rsdp[8] = Checksum.Complement(rsdp.AsSpan(0, 20));
        rsdp[32] = Checksum.Complement(rsdp);
        return rsdp;
    }

    /// <summary>FADT revision 6 (276 bytes), not hardware-reduced: power-off and reset through fixed I/O ports.</summary>
    public static byte[] Fadt(ulong dsdtAddress)
    {
        const uint Wbinvd = 1 << 0, PowerButtonIsControlMethod = 1 << 4, SleepButtonIsControlMethod = 1 << 5, ResetRegSupported = 1 << 10;
        const ushort VgaNotPresent = 1 << 2;
        var t = new AcpiTable("FACP", 6)
            .U32(0).U32((uint)dsdtAddress)                    // FIRMWARE_CTRL, DSDT
            .U8(0).U8(0)                                      // reserved, preferred PM profile (unspecified)
            .U16(AcpiPlatform.SciInterrupt)
            .U32(0).U8(0).U8(0).U8(0).U8(0)                   // SMI_CMD = 0: ACPI is always enabled
            .U32(AcpiPlatform.Pm1aEventBlock).U32(0)          // PM1a/b_EVT_BLK
            .U32(AcpiPlatform.Pm1aControlBlock).U32(0)        // PM1a/b_CNT_BLK
            .U32(0).U32(0).U32(0).U32(0)                      // PM2_CNT, PM_TMR, GPE0, GPE1
            .U8(4).U8(2).U8(0).U8(0)                          // PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN
            .U8(0).U8(0).U8(0).U8(0)                          // GPE0/1 lengths, GPE1 base, CST_CNT
            .U16(0xffff).U16(0xffff)                          // P_LVL2/3 latency: not supported
            .U16(0).U16(0).U8(0).U8(0)                        // flush size/stride, duty offset/width
            .U8(0).U8(0).U8(0)                                // RTC alarms, century
            .U16(VgaNotPresent).U8(0)                         // IAPC_BOOT_ARCH, reserved
            .U32(Wbinvd | PowerButtonIsControlMethod | SleepButtonIsControlMethod | ResetRegSupported)
            .Gas(GenericAddress.IoPort(AcpiPlatform.ResetPort, 8)).U8(AcpiPlatform.ResetValue)
            .U16(0).U8(0)                                     // ARM boot arch, FADT minor version
            .U64(0).U64(dsdtAddress)                          // X_FIRMWARE_CTRL, X_DSDT
            .Gas(GenericAddress.IoPort(AcpiPlatform.Pm1aEventBlock, 32)).Gas(GenericAddress.None)
            .Gas(GenericAddress.IoPort(AcpiPlatform.Pm1aControlBlock, 16)).Gas(GenericAddress.None)
            .Gas(GenericAddress.None).Gas(GenericAddress.None) // X_PM2_CNT, X_PM_TMR
            .Gas(GenericAddress.None).Gas(GenericAddress.None) // X_GPE0, X_GPE1
            .Gas(GenericAddress.None).Gas(GenericAddress.None) // SLEEP_CONTROL, SLEEP_STATUS
            .U64(0);                                          // hypervisor vendor identity
        return t.ToArray();
    }

    /// <summary>
    /// The DSDT: Name (_S5, Package (4) { 5, 5, 0, 0 }), then, with virtio-mmio devices,
    /// Scope (\_SB) { Device (VIOk) per device (<see cref="VirtioMmioDevice"/>) }.
    /// </summary>
    public static byte[] Dsdt(int virtioDevices = 0)
    {
        byte s5 = AcpiPlatform.SleepTypeS5;
        const byte NameOp = 0x08, PackageOp = 0x12, BytePrefix = 0x0a, ZeroOp = 0x00;
        var table = new AcpiTable("DSDT", 2)
            .Bytes(NameOp, (byte)'_', (byte)'S', (byte)'5', (byte)'_')
            .Bytes(PackageOp, 8 /* PkgLength: itself, the count and 6 bytes of elements */, 4)
            .Bytes(BytePrefix, s5, BytePrefix, s5, ZeroOp, ZeroOp);
        if (virtioDevices > 0)
            table.Bytes(Aml.RootScope("_SB", [.. Enumerable.Range(0, virtioDevices).SelectMany(VirtioMmioDevice)]));
        return table.ToArray();
    }

    /// <summary>
    /// Device (VIOk) { Name (_HID, "LNRO0005"); Name (_UID, k); Name (_CRS, ResourceTemplate () {
    /// Memory32Fixed (ReadWrite, window, 0x1000); Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { GSI } }) }:
    /// how Linux's virtio_mmio driver finds device k (it matches ACPI id LNRO0005).
    /// </summary>
    public static byte[] VirtioMmioDevice(int index)
    {
        byte[] resources = [.. Aml.Memory32Fixed((uint)Devices.Virtio.VirtioMmioLayout.Gpa(index), (uint)Devices.Virtio.VirtioMmioTransport.WindowBytes),
            .. Aml.EdgeInterrupt(Devices.Virtio.VirtioMmioLayout.Gsi(index)), .. Aml.EndTag()];
        return Aml.Device($"VIO{index}", [
            .. Aml.Name("_HID", Aml.String("LNRO0005")),
            .. Aml.Name("_UID", Aml.Integer((ulong)index)),
            .. Aml.Name("_CRS", Aml.Buffer(resources)),
        ]);
    }

    /// <summary>MADT: one enabled local APIC per vCPU (APIC ID = vCPU index), the IOAPIC, and IRQ0 → GSI2 as on a PC.</summary>
    public static byte[] Madt(int cpuCount)
    {
        const uint PcatCompat = 1;
        var t = new AcpiTable("APIC", 5).U32(AcpiPlatform.LocalApicAddress).U32(PcatCompat);
        for (int i = 0; i < cpuCount; i++)
            t.U8(0).U8(8).U8((byte)i).U8((byte)i).U32(1);                          // processor local APIC, enabled
        t.U8(1).U8(12).U8((byte)cpuCount).U8(0).U32(AcpiPlatform.IoApicAddress).U32(0); // IOAPIC, GSI base 0
        t.U8(2).U8(10).U8(0).U8(0).U32(2).U16(0);                                   // ISA IRQ0 → GSI2
        t.U8(2).U8(10).U8(0).U8(9).U32(9).U16(0x000d);                              // SCI: level, active high
        return t.ToArray();
    }
}
