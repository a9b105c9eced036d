using Ferry.Api;
using System.Buffers.Binary;
using Ferry.Kvm;
using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Net;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Devices.Virtio.Net;

/// <summary>
/// A guest's virtio-net driver in a test, as the test guest's will be: it accepts VERSION_1, MAC,
/// STATUS and MTU (or what it is told), lays both queues out in fake guest RAM and posts
/// single 2048-byte receive buffers.
/// </summary>
public sealed class NetTestDriver : IDisposable
{
    public const ushort Size = 64;
    public const ulong BufferBytes = 2048;
    public static readonly ulong[] Desc = [0x1000, 0x4000], Avail = [0x2000, 0x5000], Used = [0x3000, 0x6000];
    public const ulong RxBuffers = 0x10000, TxBuffers = 0x90000;
    public const ulong GuestFeatures = 1UL << VirtioMmioTransport.FeatureVersion1 | 1UL << VirtioNet.FeatureMac
        | 1UL << VirtioNet.FeatureStatus | 1UL << VirtioNet.FeatureMtu;
    private readonly SemaphoreSlim _interrupts = new(0);
    private readonly ushort[] _nextDesc = new ushort[2], _availIdx = new ushort[2];

    public NetTestDriver(TapDevice? tap, MacAddress? mac = null)
    {
        Ram = new FakeGuestRam(1 << 20);
        Interrupt = new VirtioInterrupt(new CountingIrqLine(_interrupts));
        Net = new VirtioNet(mac ?? MacAddress.Generate(), tap, Ram, Interrupt, "virtio-net-test");
        Transport = new VirtioMmioTransport(Net, Ram, Interrupt);
        Net.Worker.Release(); // the VM would, when it starts
    }

    public FakeGuestRam Ram { get; }
    public VirtioInterrupt Interrupt { get; }
    public VirtioNet Net { get; }
    public VirtioMmioTransport Transport { get; }

    public uint R(ulong offset) => TransportRegisters.Read(Transport, offset);

    public void W(ulong offset, uint value) => TransportRegisters.Write(Transport, offset, value);

    public ulong DeviceFeatures() => TransportRegisters.DeviceFeatures(Transport);

    public void Start(ulong features = GuestFeatures)
    {
        const uint Ack = VirtioMmioTransport.StatusAcknowledge, Drv = VirtioMmioTransport.StatusDriver, FOk = VirtioMmioTransport.StatusFeaturesOk;
        W(0x70, Ack);
        W(0x70, Ack | Drv);
        W(0x24, 0); W(0x20, (uint)features);
        W(0x24, 1); W(0x20, (uint)(features >> 32));
        W(0x70, Ack | Drv | FOk);
        Assert.NotEqual(0u, R(0x70) & FOk);
        for (uint q = 0; q < 2; q++)
        {
            W(0x30, q);
            Assert.Equal(256u, R(0x34));
            W(0x38, Size);
            W(0x80, (uint)Desc[q]); W(0x84, 0);
            W(0x90, (uint)Avail[q]); W(0x94, 0);
            W(0xa0, (uint)Used[q]); W(0xa4, 0);
            W(0x44, 1);
        }
        W(0x70, Ack | Drv | FOk | VirtioMmioTransport.StatusDriverOk);
        Assert.NotEqual(0u, R(0x70) & VirtioMmioTransport.StatusDriverOk);
    }

    /// <summary>Makes one buffer available on queue <paramref name="q"/>; returns its head.</summary>
    public ushort Add(int q, ulong gpa, uint length, bool writable)
    {
        ushort head = _nextDesc[q];
        var d = Ram.Bytes(Desc[q] + head * 16UL, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, gpa);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], length);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], writable ? Virtqueue.DescWrite : (ushort)0);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], 0);
        _nextDesc[q] = (ushort)((head + 1) % Size);
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes(Avail[q] + 4 + 2UL * (ulong)(_availIdx[q] % Size), 2), head);
        _availIdx[q]++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes(Avail[q] + 2, 2), _availIdx[q]);
        return head;
    }

    /// <summary>Posts receive buffer number <paramref name="slot"/> (2048 bytes at RxBuffers + slot * 2048).</summary>
    public ushort PostReceive(int slot, uint length = (uint)BufferBytes) => Add(0, RxBuffers + (ulong)slot * BufferBytes, length, writable: true);

    /// <summary>Queues one frame (header + <paramref name="frame"/>) for sending, without notifying.</summary>
    public ushort QueueTransmit(int slot, ReadOnlySpan<byte> frame)
    {
        ulong gpa = TxBuffers + (ulong)slot * BufferBytes;
        Ram.Bytes(gpa, VirtioNet.HeaderBytes).Clear();
        frame.CopyTo(Ram.Bytes(gpa + VirtioNet.HeaderBytes, frame.Length));
        return Add(1, gpa, (uint)(VirtioNet.HeaderBytes + frame.Length), writable: false);
    }

    public void Notify() => W(VirtioMmioTransport.QueueNotifyOffset, 0);

    public ushort UsedIdx(int q) => BinaryPrimitives.ReadUInt16LittleEndian(Ram.Bytes(Used[q] + 2, 2));

    public (uint Id, uint Length) UsedEntry(int q, int i)
    {
        var e = Ram.Bytes(Used[q] + 4 + 8UL * (ulong)(i % Size), 8);
        return (BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]));
    }

    /// <summary>Waits (a generous bound, so a broken device fails instead of hanging) until <paramref name="done"/> holds.</summary>
    public static void WaitUntil(Func<bool> done, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            Thread.Sleep(5);
        }
    }

    public void Dispose() => Net.Dispose();
}
