using Ferry.Vmm.Acpi;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Acpi;

/// <summary>The AML of virtio-mmio devices, pinned byte for byte (checked once with `iasl -d`, which shows the ASL in the comments).</summary>
public sealed class AmlTests
{
    [Fact]
    public void Device_0_is_LNRO0005_with_its_window_and_an_edge_interrupt_on_GSI_16()
    {
        // Device (VIO0) {
        //   Name (_HID, "LNRO0005")
        //   Name (_UID, Zero)
        //   Name (_CRS, ResourceTemplate () {
        //     Memory32Fixed (ReadWrite, 0xD0000000, 0x00001000)
        //     Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 0x10 } }) }
        GoldenHex.AssertEqual("""
            5b82 3a 56494f30
            08 5f484944 0d 4c4e524f30303035 00
            08 5f554944 00
            08 5f435253 11 1a 0a17
               86 0900 01 000000d0 00100000
               89 0600 03 01 10000000
               7900
            """, AcpiTables.VirtioMmioDevice(0));
    }

    [Fact]
    public void Device_3_takes_the_fourth_window_and_GSI_19()
    {
        var aml = AcpiTables.VirtioMmioDevice(3);
        GoldenHex.AssertEqual("56494f33", aml.AsSpan(3, 4));                  // VIO3
        GoldenHex.AssertEqual("5f554944 0a03", aml.AsSpan(23, 6));            // _UID 3
        GoldenHex.AssertEqual("86 0900 01 003000d0 00100000", aml.AsSpan(38, 12));
        GoldenHex.AssertEqual("89 0600 03 01 13000000", aml.AsSpan(50, 9));
    }

    [Fact]
    public void The_devices_sit_in_a_root_SB_scope_after_S5_and_the_table_still_checksums()
    {
        var dsdt = AcpiTables.Dsdt(2);
        var plain = AcpiTables.Dsdt();
        var devices = AcpiTables.VirtioMmioDevice(0).Concat(AcpiTables.VirtioMmioDevice(1)).ToArray();
        // Scope: 0x10, a two-byte PkgLength (the scope is longer than 63 bytes), \_SB_, the devices.
        int scope = plain.Length;
        Assert.Equal(0x10, dsdt[scope]);
        int length = 2 + 1 + 4 + devices.Length; // PkgLength (2 bytes) + '\' + _SB_ + devices
        Assert.Equal(0x40 | (length & 0xf), dsdt[scope + 1]);
        Assert.Equal(length >> 4, dsdt[scope + 2]);
        GoldenHex.AssertEqual("5c 5f53425f", dsdt.AsSpan(scope + 3, 5));
        Assert.Equal(devices, dsdt.AsSpan(scope + 8).ToArray());
        Assert.Equal(0, dsdt.Aggregate(0, (sum, b) => (sum + b) & 0xff));
        Assert.Equal(plain.AsSpan(AcpiTable.HeaderSize).ToArray(), dsdt.AsSpan(AcpiTable.HeaderSize, plain.Length - AcpiTable.HeaderSize).ToArray());
    }

    [Theory]
    [InlineData(10, "0b")]
    [InlineData(62, "3f")]
    [InlineData(63, "4104")]      // 65 in all: 0x40 | 1, 65 >> 4
    [InlineData(4093, "4fff")]
    [InlineData(4094, "810001")]  // 4097 needs three bytes
    public void PkgLength_counts_itself_and_grows_as_needed(int content, string golden) =>
        GoldenHex.AssertEqual(golden, Aml.PkgLength(content));

    [Theory]
    [InlineData(0UL, "00")]
    [InlineData(1UL, "01")]
    [InlineData(7UL, "0a07")]
    [InlineData(0x1234UL, "0b3412")]
    [InlineData(0xd0000000UL, "0c000000d0")]
    public void Integers_take_the_shortest_encoding(ulong value, string golden) => GoldenHex.AssertEqual(golden, Aml.Integer(value));
}
