using System.Buffers.Binary;
using System.Text;
using Ferry.Vmm.Acpi;

namespace Ferry.Vmm.Tests.Acpi;

public sealed class AcpiTablesTests
{
    private const ulong Base = 0xe0000;

    /// <summary>Walks the image as a guest would: RSDP → XSDT → tables, by address.</summary>
    private static Dictionary<string, byte[]> Walk(byte[] image)
    {
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(image, 0, 8));
        ulong xsdt = BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(24));
        var tables = new Dictionary<string, byte[]> { ["XSDT"] = Table(image, xsdt) };
        var xsdtBytes = tables["XSDT"];
        for (int i = AcpiTable.HeaderSize; i < xsdtBytes.Length; i += 8)
        {
            var t = Table(image, BinaryPrimitives.ReadUInt64LittleEndian(xsdtBytes.AsSpan(i)));
            tables[Encoding.ASCII.GetString(t, 0, 4)] = t;
        }
        tables["DSDT"] = Table(image, BinaryPrimitives.ReadUInt64LittleEndian(tables["FACP"].AsSpan(140)));
        return tables;
    }

    private static byte[] Table(byte[] image, ulong gpa)
    {
        int offset = (int)(gpa - Base);
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(offset + 4));
        return image.AsSpan(offset, length).ToArray();
    }

    [Fact]
    public void Rsdp_checksums_and_points_at_the_xsdt()
    {
        var image = AcpiTables.Build(Base, 2);
        Assert.Equal(0, Checksum.Sum(image.AsSpan(0, 20)));
        Assert.Equal(0, Checksum.Sum(image.AsSpan(0, AcpiTables.RsdpSize)));
        Assert.Equal(2, image[15]);
        Assert.Equal("XSDT", Encoding.ASCII.GetString(Walk(image)["XSDT"], 0, 4));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(8)]
    public void Every_table_checksums_to_zero(int cpus)
    {
        var tables = Walk(AcpiTables.Build(Base, cpus));
        Assert.Equal(["APIC", "DSDT", "FACP", "XSDT"], tables.Keys.Order());
        foreach (var (name, bytes) in tables) Assert.True(Checksum.Sum(bytes) == 0, $"{name} does not checksum");
    }

    [Fact]
    public void Fadt_is_revision_6_with_the_power_off_registers()
    {
        var fadt = Walk(AcpiTables.Build(Base, 1))["FACP"];
        Assert.Equal(276, fadt.Length);
        Assert.Equal(6, fadt[8]);
        Assert.Equal(AcpiPlatform.Pm1aEventBlock, BinaryPrimitives.ReadUInt32LittleEndian(fadt.AsSpan(56)));
        Assert.Equal(AcpiPlatform.Pm1aControlBlock, BinaryPrimitives.ReadUInt32LittleEndian(fadt.AsSpan(64)));
        Assert.Equal(2, fadt[89]); // PM1_CNT_LEN
        // X_PM1a_CNT_BLK: I/O space, 16 bits, at the same port.
        Assert.Equal(1, fadt[172]);
        Assert.Equal(16, fadt[173]);
        Assert.Equal(AcpiPlatform.Pm1aControlBlock, BinaryPrimitives.ReadUInt64LittleEndian(fadt.AsSpan(176)));
        // RESET_REG and RESET_VALUE.
        Assert.Equal(AcpiPlatform.ResetPort, BinaryPrimitives.ReadUInt64LittleEndian(fadt.AsSpan(120)));
        Assert.Equal(AcpiPlatform.ResetValue, fadt[128]);
        // Not hardware-reduced (bit 20 clear).
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(fadt.AsSpan(112)) & (1u << 20));
    }

    [Fact]
    public void Dsdt_defines_S5_with_our_sleep_type()
    {
        var dsdt = Walk(AcpiTables.Build(Base, 1))["DSDT"];
        int at = dsdt.AsSpan().IndexOf("_S5_"u8);
        Assert.True(at > 0);
        Assert.Equal(0x08, dsdt[at - 1]);        // NameOp
        Assert.Equal(0x12, dsdt[at + 4]);        // PackageOp
        Assert.Equal(4, dsdt[at + 6]);           // four elements
        Assert.Equal(0x0a, dsdt[at + 7]);        // BytePrefix
        Assert.Equal(AcpiPlatform.SleepTypeS5, dsdt[at + 8]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void Madt_lists_one_enabled_local_apic_per_vcpu_and_the_ioapic(int cpus)
    {
        var madt = Walk(AcpiTables.Build(Base, cpus))["APIC"];
        Assert.Equal(AcpiPlatform.LocalApicAddress, BinaryPrimitives.ReadUInt32LittleEndian(madt.AsSpan(36)));
        var apicIds = new List<int>();
        int ioapics = 0;
        for (int i = 44; i < madt.Length; i += madt[i + 1])
        {
            Assert.True(madt[i + 1] > 0);
            if (madt[i] == 0)
            {
                Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(madt.AsSpan(i + 4)) & 1);
                apicIds.Add(madt[i + 3]);
            }
            if (madt[i] == 1)
            {
                ioapics++;
                Assert.Equal(AcpiPlatform.IoApicAddress, BinaryPrimitives.ReadUInt32LittleEndian(madt.AsSpan(i + 4)));
            }
        }
        Assert.Equal(Enumerable.Range(0, cpus), apicIds);
        Assert.Equal(1, ioapics);
    }

    [Fact]
    public void Tables_fit_in_the_bios_area() =>
        Assert.True(AcpiTables.Build(Base, Vmm.VmConfig.MaxCpus).Length < 0x10000);
}
