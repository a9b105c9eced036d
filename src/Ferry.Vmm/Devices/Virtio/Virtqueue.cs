using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// A split virtqueue (virtio 1.x §2.7) in guest RAM, as the device sees it:
/// <code>
/// descriptor table  16 bytes each: u64 addr | u32 len | u16 flags (NEXT 1, WRITE 2, INDIRECT 4) | u16 next
/// available ring    u16 flags (NO_INTERRUPT 1) | u16 idx | u16 ring[size]          (driver writes)
/// used ring         u16 flags | u16 idx | { u32 id, u32 len }[size]                (device writes)
/// </code>
/// The driver owns the table and the available ring, so everything read from them is checked:
/// a chain that loops, runs past the table, is longer than the queue, nests indirect tables or
/// puts a readable buffer after a writable one is a <see cref="VirtqueueException"/>, as is a ring
/// outside RAM. The configuration fields are set by the transport while the queue is not ready;
/// <see cref="TryPop"/> and <see cref="PushUsed"/> are called by the device's one I/O thread.
/// </summary>
public sealed class Virtqueue(IGuestRam ram, ushort maxSize)
{
    public const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
    public const ushort AvailNoInterrupt = 1;
    public const int DescriptorSize = 16;

    public ushort MaxSize { get; } = maxSize;
    public ushort Size { get; set; } = maxSize;
    public bool Ready { get; set; }
    public ulong DescGpa { get; set; }
    public ulong AvailGpa { get; set; }
    public ulong UsedGpa { get; set; }
    /// <summary>The next available-ring entry the device will take.</summary>
    public ushort LastAvailIdx { get; set; }
    /// <summary>The used ring's idx as the device last wrote it.</summary>
    public ushort UsedIdx { get; set; }
    /// <summary>Whether VIRTIO_F_INDIRECT_DESC was negotiated: an indirect descriptor is an error otherwise.</summary>
    public bool IndirectAllowed { get; set; }

    public static ulong DescTableBytes(ushort size) => (ulong)size * DescriptorSize;
    public static ulong AvailRingBytes(ushort size) => 6 + 2UL * size;
    public static ulong UsedRingBytes(ushort size) => 6 + 8UL * size;

    /// <summary>Why this queue's configuration cannot be used (rings outside RAM, misaligned, bad size), or null.</summary>
    public static string? CheckLayout(ushort size, ushort maxSize, ulong desc, ulong avail, ulong used, Func<ulong, ulong, bool> inRam)
    {
        if (size == 0 || size > maxSize) return $"queue size {size} is not 1 to {maxSize}";
        if (desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0) return $"rings misaligned (desc 0x{desc:x}, avail 0x{avail:x}, used 0x{used:x})";
        if (!inRam(desc, DescTableBytes(size))) return $"the descriptor table at 0x{desc:x} is not in guest RAM";
        if (!inRam(avail, AvailRingBytes(size))) return $"the available ring at 0x{avail:x} is not in guest RAM";
        if (!inRam(used, UsedRingBytes(size))) return $"the used ring at 0x{used:x} is not in guest RAM";
        return null;
    }

    /// <summary>Back to the state after a device reset: not ready, indices zero, no addresses.</summary>
    public void Reset()
    {
        Size = MaxSize;
        Ready = false;
        DescGpa = AvailGpa = UsedGpa = 0;
        LastAvailIdx = UsedIdx = 0;
        IndirectAllowed = false;
    }

    /// <summary>Takes the next available chain, or returns false when the driver has made none available.</summary>
    public bool TryPop(out DescriptorChain? chain)
    {
        try { return TryPopChecked(out chain); }
        catch (GuestRamException e) { throw new VirtqueueException(e.Message); }
    }

    private bool TryPopChecked(out DescriptorChain? chain)
    {
        chain = null;
        ushort availIdx = ReadU16Acquire(AvailGpa + 2);
        ushort pending = (ushort)(availIdx - LastAvailIdx);
        if (pending == 0) return false;
        if (pending > Size) throw new VirtqueueException($"the available ring's idx {availIdx} is {pending} entries ahead of the device's {LastAvailIdx}, more than the queue holds ({Size})");
        ushort head = ReadU16(AvailGpa + 4 + 2UL * (ulong)(LastAvailIdx % Size));
        chain = ReadChain(head);
        LastAvailIdx++;
        return true;
    }

    private DescriptorChain ReadChain(ushort head)
    {
        if (head >= Size) throw new VirtqueueException($"chain head {head} is outside the descriptor table ({Size} entries)");
        var buffers = new List<GuestBuffer>();
        ulong table = DescGpa;
        uint tableEntries = Size;
        uint index = head;
        bool indirect = false, sawWritable = false;
        int visited = 0;
        while (true)
        {
            if (++visited > Size) throw new VirtqueueException($"the chain from head {head} is longer than the queue ({Size}) or loops");
            var d = ram.Bytes(table + index * DescriptorSize, DescriptorSize);
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
            if ((flags & DescIndirect) != 0)
            {
                if (!IndirectAllowed) throw new VirtqueueException("an indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not negotiated");
                if (indirect) throw new VirtqueueException("an indirect table inside an indirect table");
                if ((flags & DescNext) != 0) throw new VirtqueueException("an indirect descriptor with NEXT set");
                if (len == 0 || len % DescriptorSize != 0 || len / DescriptorSize > Size)
                    throw new VirtqueueException($"an indirect table of {len} bytes (a multiple of 16, at most {Size} entries)");
                if (!ram.Contains(addr, len)) throw new VirtqueueException($"the indirect table at 0x{addr:x} is not in guest RAM");
                indirect = true;
                table = addr;
                tableEntries = len / DescriptorSize;
                index = 0;
                continue;
            }
            bool writable = (flags & DescWrite) != 0;
            if (!writable && sawWritable) throw new VirtqueueException($"a device-readable buffer after a device-writable one in the chain from head {head}");
            sawWritable |= writable;
            buffers.Add(new GuestBuffer(addr, len, writable));
            if ((flags & DescNext) == 0) break;
            if (next >= tableEntries) throw new VirtqueueException($"descriptor next {next} is outside its table ({tableEntries} entries)");
            index = next;
        }
        return new DescriptorChain(head, buffers);
    }

    /// <summary>
    /// Puts the chain just taken back at the front of the available ring, unused: a network device
    /// that found the buffer too small for a frame drops the frame, not the buffer.
    /// </summary>
    public void UndoPop() => LastAvailIdx--;

    /// <summary>Gives chain <paramref name="head"/> back to the driver, saying the device wrote <paramref name="writtenBytes"/> into it.</summary>
    public void PushUsed(ushort head, uint writtenBytes)
    {
        try { PushUsedChecked(head, writtenBytes); }
        catch (GuestRamException e) { throw new VirtqueueException(e.Message); }
    }

    private void PushUsedChecked(ushort head, uint writtenBytes)
    {
        ulong elem = UsedGpa + 4 + 8UL * (ulong)(UsedIdx % Size);
        var e = ram.Bytes(elem, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(e, head);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], writtenBytes);
        ram.Wrote(elem, 8);
        UsedIdx++;
        // The element must be visible before the index that publishes it.
        WriteU16Release(UsedGpa + 2, UsedIdx);
        ram.Wrote(UsedGpa + 2, 2);
    }

    /// <summary>
    /// Whether the driver wants an interrupt for what was just used: not when it set
    /// VIRTQ_AVAIL_F_NO_INTERRUPT (Ferry does not offer VIRTIO_F_EVENT_IDX). Call after PushUsed.
    /// </summary>
    public bool DriverWantsInterrupt()
    {
        // The used idx store must be ordered before this load, or a driver that just cleared the
        // flag and re-checked the used ring could miss both the entry and the interrupt.
        Interlocked.MemoryBarrier();
        return (ReadU16Acquire(AvailGpa) & AvailNoInterrupt) == 0;
    }

    private ushort ReadU16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(ram.Bytes(gpa, 2));

    private ushort ReadU16Acquire(ulong gpa) =>
        Volatile.Read(ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(ram.Bytes(gpa, 2))));

    private void WriteU16Release(ulong gpa, ushort value) =>
        Volatile.Write(ref Unsafe.As<byte, ushort>(ref MemoryMarshal.GetReference(ram.Bytes(gpa, 2))), value);
}
