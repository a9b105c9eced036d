using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Serial;

namespace Ferry.Vmm.Tests.Devices;

public sealed class SerialTests
{
    private sealed class CountingIrq : IIrqLine { public int Pulses; public void Pulse() => Pulses++; }

    private static byte Read(Serial s, int offset)
    {
        Span<byte> b = stackalloc byte[1];
        s.Read((ushort)(Serial.Com1 + offset), b);
        return b[0];
    }

    private static void Write(Serial s, int offset, byte value) => s.Write((ushort)(Serial.Com1 + offset), [value]);

    [Fact]
    public void Transmitted_bytes_reach_the_sink_whole()
    {
        var output = new List<byte>();
        var serial = new Serial(new CountingIrq(), b => output.AddRange(b.ToArray()));
        serial.Write(Serial.Com1, "hello\n"u8);
        Assert.Equal("hello\n"u8.ToArray(), output);
    }

    [Fact]
    public void Line_status_says_the_transmitter_is_ready()
    {
        var serial = new Serial(new CountingIrq(), _ => { });
        Assert.Equal(0x60, Read(serial, 5) & 0x61);
    }

    [Fact]
    public void Input_is_announced_by_an_interrupt_and_read_in_order()
    {
        var irq = new CountingIrq();
        var serial = new Serial(irq, _ => { });
        Write(serial, 1, 0x01); // IER: received data
        serial.Enqueue("ab"u8);
        Assert.True(irq.Pulses > 0);
        Assert.Equal(0x04, Read(serial, 2) & 0x0f);   // IIR: received data
        Assert.Equal(1, Read(serial, 5) & 1);          // LSR: data ready
        Assert.Equal((byte)'a', Read(serial, 0));
        Assert.Equal((byte)'b', Read(serial, 0));
        Assert.Equal(0, Read(serial, 5) & 1);
        Assert.Equal(0x01, Read(serial, 2) & 0x0f);   // no interrupt pending
    }

    [Fact]
    public void Divisor_latch_is_reached_with_dlab()
    {
        var output = new List<byte>();
        var serial = new Serial(new CountingIrq(), b => output.AddRange(b.ToArray()));
        Write(serial, 3, 0x80);
        Write(serial, 0, 0x01);
        Write(serial, 1, 0x00);
        Assert.Equal(1, Read(serial, 0));
        Write(serial, 3, 0x03);
        Assert.Empty(output); // the divisor writes were not transmitted
    }

    [Fact]
    public void State_round_trips_through_save_and_restore()
    {
        var serial = new Serial(new CountingIrq(), _ => { });
        Write(serial, 1, 0x01);
        Write(serial, 3, 0x03);
        Write(serial, 7, 0x5a);
        serial.Enqueue("xy"u8);
        var saved = serial.Save();
        var restored = Serial.Restore(saved, new CountingIrq(), _ => { });
        Assert.Equal(saved with { PendingInput = [] }, restored.Save() with { PendingInput = [] });
        Assert.Equal(saved.PendingInput, restored.Save().PendingInput);
        Assert.Equal((byte)'x', Read(restored, 0));
    }
}
