using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Devices;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.State;

/// <summary>
/// The device entries of a saved VM, decoded through the checked path every state takes
/// (VmState.Decode): the framing is pinned, and an entry the VM cannot take is refused in one
/// line naming the device and what is wrong.
/// </summary>
public sealed class DeviceStateEntriesTests
{
    [Fact]
    public void Entries_are_framed_as_id_version_and_payload()
    {
        var devices = new DeviceStateEntries();
        devices.Add(DeviceIds.Serial0, SerialStateTests.Sample);
        var w = new StateWriter();
        devices.Write(w);
        // count | u32 id length, "serial0" | u32 version | u32 payload length, payload
        GoldenHex.AssertEqual("01000000 07000000 73657269616c30 01000000 1e000000 " + SerialStateTests.Golden[1], w.ToArray());
    }

    [Fact]
    public void A_state_with_every_device_decodes()
    {
        var state = SavedStates.Decode(SavedStates.Version2(SavedStates.AllDevices()));
        Assert.Equal(SerialStateTests.Sample.Scratch, state.Serial.Scratch);
    }

    [Fact]
    public void The_order_of_entries_does_not_matter()
    {
        var state = SavedStates.Decode(SavedStates.Version2([.. SavedStates.AllDevices().Reverse()]));
        Assert.Equal(SerialStateTests.Sample.Divisor, state.Serial.Divisor);
    }

    [Fact]
    public void A_device_this_vm_does_not_have_is_refused() =>
        Assert.Equal("the device state section: device virtio-net0: this VM has no such device",
            SavedStates.Refusal(SavedStates.Version2([.. SavedStates.AllDevices(), new DeviceStateEntry("virtio-net0", 1, [1, 2, 3])])));

    [Fact]
    public void A_device_saved_twice_is_refused() =>
        Assert.Equal("the device state section: device serial0: saved twice",
            SavedStates.Refusal(SavedStates.Version2([.. SavedStates.AllDevices(), SavedStates.AllDevices()[3]])));

    [Fact]
    public void A_missing_device_is_refused() =>
        Assert.Equal("the device state section: device pit: missing from the state",
            SavedStates.Refusal(SavedStates.Version2([.. SavedStates.AllDevices().Where(e => e.Id != DeviceIds.Pit)])));

    [Fact]
    public void A_device_version_newer_than_this_ferry_is_refused() =>
        Assert.Equal("the device state section: device serial0: state version 3 is newer than this ferry supports (1)",
            SavedStates.Refusal(SavedStates.Version2(WithSerial(e => e with { Version = 3 }))));

    [Fact]
    public void Device_version_0_is_refused() =>
        Assert.Equal("the device state section: device serial0: state version 0 is not a version (they start at 1)",
            SavedStates.Refusal(SavedStates.Version2(WithSerial(e => e with { Version = 0 }))));

    [Fact]
    public void A_short_payload_is_refused_naming_the_field_it_ends_in() =>
        Assert.Equal("the device state section: device serial0: the entry ends inside pending input",
            SavedStates.Refusal(SavedStates.Version2(WithSerial(e => e with { Payload = e.Payload[..^1] }))));

    [Fact]
    public void A_long_payload_is_refused() =>
        Assert.Equal("the device state section: device serial0: the entry runs 2 bytes past its last field (version 1)",
            SavedStates.Refusal(SavedStates.Version2(WithSerial(e => e with { Payload = [.. e.Payload, 0, 0] }))));

    [Fact]
    public void A_state_that_ends_inside_an_entry_is_refused()
    {
        byte[] state = SavedStates.Version2(SavedStates.AllDevices());
        Assert.Equal("the device state section: VM state ends inside device serial0's payload", SavedStates.Refusal(state[..^3]));
    }

    [Theory]
    [InlineData("Serial0")]
    [InlineData("a\nb")]
    [InlineData("")]
    [InlineData("a-device-id-of-thirty-three-chars")]
    public void An_id_that_is_not_a_device_id_is_refused_and_shown_escaped(string id)
    {
        string message = SavedStates.Refusal(SavedStates.Version2([new DeviceStateEntry(id, 1, [])]));
        Assert.StartsWith("the device state section: device 0's id \"", message);
        Assert.EndsWith("\" is not a device id (1 to 32 of a-z, 0-9 and '-')", message);
    }

    [Fact]
    public void An_implausible_device_count_is_refused()
    {
        var w = SavedStates.Header(2);
        w.U32(1000);
        Assert.Equal("the device state section: device count 1000 is more than 64", SavedStates.Refusal(w.ToArray()));
    }

    [Fact]
    public void A_vm_state_version_newer_than_this_ferry_is_refused()
    {
        var w = SavedStates.Header(3);
        Assert.Equal("the device state section: VM state version 3 is not supported (1 to 2)", SavedStates.Refusal(w.ToArray()));
    }

    private static DeviceStateEntry[] WithSerial(Func<DeviceStateEntry, DeviceStateEntry> change) =>
        [.. SavedStates.AllDevices().Select(e => e.Id == DeviceIds.Serial0 ? change(e) : e)];
}
