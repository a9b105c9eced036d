using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Serial;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Devices;

/// <summary>
/// The UART's entry in a saved VM, which other Ferry builds read: a round trip, and the bytes of
/// every version pinned. Changing the encoding means raising SerialState.Version and adding its
/// golden bytes here; the old ones stay, since a state saved by an older Ferry is still read.
/// </summary>
public sealed class SerialStateTests
{
    private sealed class CountingIrq : IIrqLine { public int Pulses; public void Pulse() => Pulses++; }

    /// <summary>A UART the guest programmed (8N1 at 115200, both interrupts on) with two typed bytes unread.</summary>
    internal static readonly SerialState Sample = new(Ier: 0x03, Lcr: 0x03, Mcr: 0x0b, Scratch: 0x5a, Divisor: 1, ThrEmptyPending: true,
        PendingInput: "hi"u8.ToArray());

    /// <summary><see cref="Sample"/>'s payload in every version this Ferry reads.</summary>
    internal static readonly Dictionary<uint, string> Golden = new()
    {
        // ier, lcr, mcr, scratch, divisor, THR empty pending: a u32 each; the pending input as a blob.
        [1] = "03000000 03000000 0b000000 5a000000 01000000 01000000 02000000 6869",
    };

    public static TheoryData<uint> Versions() => [.. Golden.Keys];

    [Fact]
    public void The_current_version_encodes_as_its_golden_bytes()
    {
        Assert.True(Golden.TryGetValue(SerialState.Version, out var golden), $"add the golden bytes of SerialState version {SerialState.Version}");
        var entry = DeviceStateEntry.Of(DeviceIds.Serial0, Sample);
        Assert.Equal(SerialState.Version, entry.Version);
        GoldenHex.AssertEqual(golden, entry.Payload);
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public void Every_golden_version_still_decodes(uint version)
    {
        var decoded = new DeviceStateEntry(DeviceIds.Serial0, version, GoldenHex.Parse(Golden[version])).Decode<SerialState>();
        AssertSameState(Sample, decoded);
    }

    [Fact]
    public void A_uart_restored_from_its_entry_continues_where_it_stood()
    {
        var serial = new Serial(new CountingIrq(), _ => { });
        Write(serial, 3, 0x83);                  // DLAB: divisor 1
        Write(serial, 0, 0x01);
        Write(serial, 3, 0x03);
        Write(serial, 1, 0x01);                  // IER: received data
        Write(serial, 7, 0x5a);
        serial.Enqueue("xy"u8);

        var written = new StateWriter();
        var devices = new DeviceStateEntries();
        devices.Add(DeviceIds.Serial0, serial.Save());
        devices.Write(written);
        var reader = new StateReader(written.ToArray());
        var irq = new CountingIrq();
        var output = new List<byte>();
        var restored = Serial.Restore(DeviceStateEntries.Read(ref reader).Take<SerialState>(DeviceIds.Serial0), irq, b => output.AddRange(b.ToArray()));

        Assert.NotSame(serial, restored);
        AssertSameState(serial.Save(), restored.Save());
        Assert.Equal((byte)'x', Read(restored, 0));
        restored.Enqueue("z"u8);
        Assert.True(irq.Pulses > 0, "the restored UART raises its interrupts on the line it was given");
        restored.Write(Serial.Com1, "ok"u8);
        Assert.Equal("ok"u8.ToArray(), output);
    }

    [Theory]
    [InlineData("00010000 03000000 0b000000 5a000000 01000000 01000000 00000000", "device serial0: ier is 256, at most 255")]
    [InlineData("03000000 03000000 0b000000 5a000000 00000100 01000000 00000000", "device serial0: divisor is 65536, at most 65535")]
    [InlineData("03000000 03000000 0b000000 5a000000 01000000 02000000 00000000", "device serial0: thr empty pending is 2, at most 1")]
    [InlineData("03000000 03000000 0b000000 5a000000 01000000 01000000 01100000 00*4097", "device serial0: pending input is 4097 bytes, at most 4096")]
    [InlineData("03000000 03000000 0b000000 5a000000 01000000 01000000 02000000 68", "device serial0: the entry ends inside pending input")]
    [InlineData("03000000 03000000 0b000000", "device serial0: the entry ends inside scratch")]
    [InlineData("03000000 03000000 0b000000 5a000000 01000000 01000000 00000000 ff", "device serial0: the entry runs 1 byte past its last field (version 1)")]
    public void A_payload_of_the_wrong_shape_is_refused_naming_the_field(string payload, string message)
    {
        var entry = new DeviceStateEntry(DeviceIds.Serial0, 1, GoldenHex.Parse(payload));
        Assert.Equal(message, Assert.Throws<InvalidDataException>(() => entry.Decode<SerialState>()).Message);
    }

    private static void AssertSameState(SerialState expected, SerialState actual)
    {
        Assert.Equal(expected with { PendingInput = [] }, actual with { PendingInput = [] });
        Assert.Equal(expected.PendingInput, actual.PendingInput);
    }

    private static byte Read(Serial s, int offset)
    {
        Span<byte> b = stackalloc byte[1];
        s.Read((ushort)(Serial.Com1 + offset), b);
        return b[0];
    }

    private static void Write(Serial s, int offset, byte value) => s.Write((ushort)(Serial.Com1 + offset), [value]);
}
