using Ferry.Kvm.Structs;
using Ferry.Vmm.Devices.InKernel;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Devices.InKernel;

/// <summary>
/// The in-kernel PIC pair and IOAPIC's entry: a round trip, and the bytes of every version pinned
/// (raise IrqchipState.Version and add its golden bytes when the encoding changes). Restoring
/// into KVM is covered by VmStateRestoreTests.
/// </summary>
public sealed class IrqchipStateTests
{
    /// <summary>struct kvm_irqchip: chip_id at 0, the chip's state from 8 (kvm_pic_state: imr at +2, irq_base at +5; kvm_ioapic_state: base_address at +0, redirtbl at +24).</summary>
    internal static readonly IrqchipState Sample = new(
        StructBytes.Of<KvmIrqchip>((0, 0), (10, 0xb8), (13, 0x30)),
        StructBytes.Of<KvmIrqchip>((0, 1), (10, 0xff), (13, 0x38)),
        StructBytes.Of<KvmIrqchip>((0, 2), (10, 0xc0), (11, 0xfe), (64, 0x24)));

    internal static readonly Dictionary<uint, string> Golden = new()
    {
        // Each chip: u32 length 520, then struct kvm_irqchip as KVM gives it.
        [1] = "08020000 00000000 00000000 0000b8000030 00*506 " +
              "08020000 01000000 00000000 0000ff000038 00*506 " +
              "08020000 02000000 00000000 0000c0fe 00*52 24 00*455",
    };

    public static TheoryData<uint> Versions() => [.. Golden.Keys];

    [Fact]
    public void The_current_version_encodes_as_its_golden_bytes()
    {
        Assert.True(Golden.TryGetValue(IrqchipState.Version, out var golden), $"add the golden bytes of IrqchipState version {IrqchipState.Version}");
        var entry = DeviceStateEntry.Of(DeviceIds.Irqchip, Sample);
        Assert.Equal(IrqchipState.Version, entry.Version);
        GoldenHex.AssertEqual(golden, entry.Payload);
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public void Every_golden_version_still_decodes(uint version) =>
        AssertSameChips(Sample, new DeviceStateEntry(DeviceIds.Irqchip, version, GoldenHex.Parse(Golden[version])).Decode<IrqchipState>());

    [Fact]
    public void Chips_round_trip_through_their_entry()
    {
        var written = new StateWriter();
        var devices = new DeviceStateEntries();
        devices.Add(DeviceIds.Irqchip, Sample);
        devices.Write(written);
        var reader = new StateReader(written.ToArray());
        AssertSameChips(Sample, DeviceStateEntries.Read(ref reader).Take<IrqchipState>(DeviceIds.Irqchip));
    }

    [Fact]
    public void A_chip_saved_under_another_chip_id_is_refused()
    {
        var swapped = new IrqchipState(Sample.PicSlave, Sample.PicMaster, Sample.Ioapic);
        var entry = DeviceStateEntry.Of(DeviceIds.Irqchip, swapped);
        Assert.Equal("device irqchip: chip 0: chip_id is 1", Assert.Throws<InvalidDataException>(() => entry.Decode<IrqchipState>()).Message);
    }

    [Fact]
    public void A_chip_of_the_wrong_size_is_refused()
    {
        var entry = new DeviceStateEntry(DeviceIds.Irqchip, 1, GoldenHex.Parse("00020000 00*512"));
        Assert.Equal("device irqchip: chip 0: 512 bytes, expected 520", Assert.Throws<InvalidDataException>(() => entry.Decode<IrqchipState>()).Message);
    }

    private static void AssertSameChips(IrqchipState expected, IrqchipState actual)
    {
        for (int i = 0; i < 3; i++) Assert.Equal(StructBytes.Bytes(expected.Chips[i]), StructBytes.Bytes(actual.Chips[i]));
    }
}
