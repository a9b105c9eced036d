using Ferry.Kvm.Structs;
using Ferry.Vmm.Devices.InKernel;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Devices.InKernel;

/// <summary>
/// kvmclock's entry: a round trip, and the bytes of every version pinned (raise
/// KvmClockState.Version and add its golden bytes when the encoding changes).
/// </summary>
public sealed class KvmClockStateTests
{
    /// <summary>KVM_GET_CLOCK's answer: the clock, KVM_CLOCK_TSC_STABLE, a realtime and a host TSC.</summary>
    internal static readonly KvmClockState Sample = new(new KvmClockData
    {
        Clock = 0x12_3456_789a, Flags = 2, Realtime = 0x1800_0000_0000_0001, HostTsc = 0x100_0000_0002,
    });

    internal static readonly Dictionary<uint, string> Golden = new()
    {
        // u32 length 48, then struct kvm_clock_data: clock, flags, pad, realtime, host_tsc, pad[4].
        [1] = "30000000 9a78563412000000 02000000 00000000 0100000000000018 0200000000010000 00*16",
    };

    public static TheoryData<uint> Versions() => [.. Golden.Keys];

    [Fact]
    public void The_current_version_encodes_as_its_golden_bytes()
    {
        Assert.True(Golden.TryGetValue(KvmClockState.Version, out var golden), $"add the golden bytes of KvmClockState version {KvmClockState.Version}");
        var entry = DeviceStateEntry.Of(DeviceIds.KvmClock, Sample);
        Assert.Equal(KvmClockState.Version, entry.Version);
        GoldenHex.AssertEqual(golden, entry.Payload);
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public void Every_golden_version_still_decodes(uint version) =>
        Assert.Equal(Sample, new DeviceStateEntry(DeviceIds.KvmClock, version, GoldenHex.Parse(Golden[version])).Decode<KvmClockState>());

    [Fact]
    public void The_clock_round_trips_through_its_entry()
    {
        var written = new StateWriter();
        var devices = new DeviceStateEntries();
        devices.Add(DeviceIds.KvmClock, Sample);
        devices.Write(written);
        var reader = new StateReader(written.ToArray());
        Assert.Equal(Sample, DeviceStateEntries.Read(ref reader).Take<KvmClockState>(DeviceIds.KvmClock));
    }

    [Fact]
    public void A_clock_of_the_wrong_size_is_refused()
    {
        var entry = new DeviceStateEntry(DeviceIds.KvmClock, 1, GoldenHex.Parse("28000000 00*40"));
        Assert.Equal("device kvmclock: kvm_clock_data: 40 bytes, expected 48", Assert.Throws<InvalidDataException>(() => entry.Decode<KvmClockState>()).Message);
    }
}
