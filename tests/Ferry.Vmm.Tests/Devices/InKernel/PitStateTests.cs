using Ferry.Kvm.Structs;
using Ferry.Vmm.Devices.InKernel;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Devices.InKernel;

/// <summary>
/// The in-kernel PIT's entry: a round trip, and the bytes of every version pinned (raise
/// PitState.Version and add its golden bytes when the encoding changes).
/// </summary>
public sealed class PitStateTests
{
    /// <summary>
    /// Channel 0 as Linux programs it (count 0x2e9c, rw_mode 3, mode 2, gate 1, a load time),
    /// channel 1 never programmed (mode 0xff), channel 2 all zeros. struct kvm_pit_channel_state
    /// is 24 bytes: count at 0, rw_mode 12, mode 13, bcd 14, gate 15, count_load_time 16.
    /// </summary>
    internal static readonly PitState Sample = new(StructBytes.Of<KvmPitState2>(
        (0, 0x9c), (1, 0x2e), (12, 3), (13, 2), (15, 1),
        (16, 0x88), (17, 0x77), (18, 0x66), (19, 0x55), (20, 0x44), (21, 0x33), (22, 0x22), (23, 0x11),
        (24 + 13, 0xff)));

    internal static readonly Dictionary<uint, string> Golden = new()
    {
        // u32 length 112, then struct kvm_pit_state2: three channels, flags, reserved.
        [1] = "70000000 9c2e0000 0000 000000000000 03 02 00 01 8877665544332211 00*13 ff 00*10 00*24 00*40",
    };

    public static TheoryData<uint> Versions() => [.. Golden.Keys];

    [Fact]
    public void The_current_version_encodes_as_its_golden_bytes()
    {
        Assert.True(Golden.TryGetValue(PitState.Version, out var golden), $"add the golden bytes of PitState version {PitState.Version}");
        var entry = DeviceStateEntry.Of(DeviceIds.Pit, Sample);
        Assert.Equal(PitState.Version, entry.Version);
        GoldenHex.AssertEqual(golden, entry.Payload);
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public void Every_golden_version_still_decodes(uint version) =>
        Assert.Equal(StructBytes.Bytes(Sample.Pit), StructBytes.Bytes(new DeviceStateEntry(DeviceIds.Pit, version, GoldenHex.Parse(Golden[version])).Decode<PitState>().Pit));

    [Fact]
    public void The_pit_round_trips_through_its_entry()
    {
        var written = new StateWriter();
        var devices = new DeviceStateEntries();
        devices.Add(DeviceIds.Pit, Sample);
        devices.Write(written);
        var reader = new StateReader(written.ToArray());
        Assert.Equal(StructBytes.Bytes(Sample.Pit), StructBytes.Bytes(DeviceStateEntries.Read(ref reader).Take<PitState>(DeviceIds.Pit).Pit));
    }

    [Theory]
    [InlineData("70000000 9c2e0000 0000 000000000000 03 09 00 01 00*8 00*88", "device pit: channel 0: mode 9, rw_mode 3, bcd 0, gate 1 are not an 8254's")]
    [InlineData("70000000 00*24 00*12 05 00 00 00 00*8 00*64", "device pit: channel 1: mode 0, rw_mode 5, bcd 0, gate 0 are not an 8254's")]
    [InlineData("6c000000 00*108", "device pit: kvm_pit_state2: 108 bytes, expected 112")]
    [InlineData("70000000 00*100", "device pit: the entry ends inside kvm_pit_state2")]
    public void A_pit_no_8254_could_be_in_is_refused(string payload, string message)
    {
        var entry = new DeviceStateEntry(DeviceIds.Pit, 1, GoldenHex.Parse(payload));
        Assert.Equal(message, Assert.Throws<InvalidDataException>(() => entry.Decode<PitState>()).Message);
    }
}
