using System.Buffers.Binary;
using Ferry.Vmm.Devices;
using Ferry.Vmm.Devices.Virtio;
using Ferry.Vmm.Devices.Virtio.Blk;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Devices.Virtio;

/// <summary>
/// A guest driver in a test: it programs a virtio-mmio transport through its registers, lays a
/// split virtqueue out in fake guest RAM, adds chains and waits for the device's interrupt.
/// </summary>
public sealed class VirtioTestDriver : IDisposable
{
    public const ulong Desc = 0x1000, Avail = 0x2000, Used = 0x3000, Data = 0x10000;
    public const ushort Size = 16;
    private readonly SemaphoreSlim _interrupts = new(0);
    private ushort _nextDesc, _availIdx;

    public VirtioTestDriver(DiskImage disk, string serial = "test-serial")
    {
        Ram = new FakeGuestRam(1 << 20);
        Interrupt = new VirtioInterrupt(new CountingIrqLine(_interrupts));
        Blk = new VirtioBlk(disk, serial, Ram, Interrupt, "virtio-blk-test");
        Transport = new VirtioMmioTransport(Blk, Ram, Interrupt);
        Blk.Worker.Release(); // the VM would, when it starts
    }

    public FakeGuestRam Ram { get; }
    public VirtioInterrupt Interrupt { get; }
    public VirtioBlk Blk { get; }
    public VirtioMmioTransport Transport { get; }

    public uint R(ulong offset) => TransportRegisters.Read(Transport, offset);

    public void W(ulong offset, uint value) => TransportRegisters.Write(Transport, offset, value);

    public ulong DeviceFeatures() => TransportRegisters.DeviceFeatures(Transport);

    /// <summary>ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether the device kept FEATURES_OK.</summary>
    public bool NegotiateFeatures(ulong features)
    {
        W(0x70, VirtioMmioTransport.StatusAcknowledge);
        W(0x70, VirtioMmioTransport.StatusAcknowledge | VirtioMmioTransport.StatusDriver);
        W(0x24, 0); W(0x20, (uint)features);
        W(0x24, 1); W(0x20, (uint)(features >> 32));
        W(0x70, VirtioMmioTransport.StatusAcknowledge | VirtioMmioTransport.StatusDriver | VirtioMmioTransport.StatusFeaturesOk);
        return (R(0x70) & VirtioMmioTransport.StatusFeaturesOk) != 0;
    }

    /// <summary>The whole bring-up with every offered feature (or <paramref name="features"/>), queue 0 at Desc/Avail/Used.</summary>
    public void Start(ulong? features = null)
    {
        Assert.True(NegotiateFeatures(features ?? DeviceFeatures()));
        W(0x30, 0);
        W(0x38, Size);
        W(0x80, (uint)Desc); W(0x84, 0);
        W(0x90, (uint)Avail); W(0x94, 0);
        W(0xa0, (uint)Used); W(0xa4, 0);
        W(0x44, 1);
        W(0x70, R(0x70) | VirtioMmioTransport.StatusDriverOk);
        Assert.NotEqual(0u, R(0x70) & VirtioMmioTransport.StatusDriverOk);
    }

    public void SetDescriptor(ulong table, int index, ulong gpa, uint length, ushort flags, ushort next)
    {
        var d = Ram.Bytes(table + (ulong)index * 16, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, gpa);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], length);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Writes a chain into the descriptor table and makes it available; returns its head.</summary>
    public ushort AddChain(params (ulong Gpa, uint Length, bool Writable)[] buffers)
    {
        ushort head = _nextDesc;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((head + i) % Size);
            bool last = i == buffers.Length - 1;
            SetDescriptor(Desc, index, buffers[i].Gpa, buffers[i].Length,
                (ushort)((buffers[i].Writable ? Virtqueue.DescWrite : 0) | (last ? 0 : Virtqueue.DescNext)), (ushort)((index + 1) % Size));
        }
        _nextDesc = (ushort)((head + buffers.Length) % Size);
        MakeAvailable(head);
        return head;
    }

    public void MakeAvailable(ushort head)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes(Avail + 4 + 2UL * (ulong)(_availIdx % Size), 2), head);
        _availIdx++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Bytes(Avail + 2, 2), _availIdx);
    }

    public void Notify() => W(VirtioMmioTransport.QueueNotifyOffset, 0);

    /// <summary>Waits for the device's interrupt (a generous bound only so a broken device fails the test instead of hanging it).</summary>
    public void WaitInterrupt() => Assert.True(_interrupts.Wait(TimeSpan.FromSeconds(30)), "no interrupt from the device");

    public int PendingInterrupts => _interrupts.CurrentCount;

    public ushort UsedIdx => BinaryPrimitives.ReadUInt16LittleEndian(Ram.Bytes(Used + 2, 2));

    public (uint Id, uint Length) UsedEntry(int i)
    {
        var e = Ram.Bytes(Used + 4 + 8UL * (ulong)(i % Size), 8);
        return (BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]));
    }

    /// <summary>A request header at <paramref name="gpa"/>.</summary>
    public void Header(ulong gpa, uint type, ulong sector)
    {
        var h = Ram.Bytes(gpa, 16);
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
    }

    /// <summary>Adds one request (header, data, status) and waits until the device used it; returns (status, used length).</summary>
    public (byte Status, uint UsedLength) Request(uint type, ulong sector, ulong dataGpa, uint dataLength, bool deviceWritesData)
    {
        const ulong HeaderAt = 0x8000, StatusAt = 0x8100;
        Header(HeaderAt, type, sector);
        Ram.Bytes(StatusAt, 1)[0] = 0xee;
        ushort before = UsedIdx;
        ushort head = dataLength == 0
            ? AddChain((HeaderAt, 16, false), (StatusAt, 1, true))
            : AddChain((HeaderAt, 16, false), (dataGpa, dataLength, deviceWritesData), (StatusAt, 1, true));
        Notify();
        WaitInterrupt();
        Assert.Equal((ushort)(before + 1), UsedIdx);
        var (id, length) = UsedEntry(before);
        Assert.Equal(head, (ushort)id);
        return (Ram.Bytes(StatusAt, 1)[0], length);
    }

    public void Dispose() => Blk.Dispose();
}
