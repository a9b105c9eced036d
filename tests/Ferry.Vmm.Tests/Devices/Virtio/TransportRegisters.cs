using System.Buffers.Binary;
using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Virtio;

namespace Ferry.Vmm.Tests.Devices.Virtio;

/// <summary>
/// What every test driver of a virtio-mmio device does alike: 32-bit register reads and writes
/// through the transport, the device's 64 feature bits, and an interrupt line that counts pulses.
/// </summary>
public static class TransportRegisters
{
    public static uint Read(VirtioMmioTransport transport, ulong offset)
    {
        Span<byte> b = stackalloc byte[4];
        transport.Read(offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public static void Write(VirtioMmioTransport transport, ulong offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        transport.Write(offset, b);
    }

    /// <summary>DeviceFeatures, both halves (DeviceFeaturesSel 0, then 1).</summary>
    public static ulong DeviceFeatures(VirtioMmioTransport transport)
    {
        Write(transport, 0x14, 0);
        ulong low = Read(transport, 0x10);
        Write(transport, 0x14, 1);
        return low | (ulong)Read(transport, 0x10) << 32;
    }
}

/// <summary>An interrupt line for tests: each pulse releases the semaphore a driver waits on.</summary>
public sealed class CountingIrqLine(SemaphoreSlim pulses) : IIrqLine
{
    public void Pulse() => pulses.Release();
}
