using System.Buffers.Binary;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Storage;

/// <summary>
/// The DiskBlocks section: runs of a disk's bytes, <c>(u32 disk | u32 flags | u64 offset | u64 length | data)*</c>;
/// flags 1 = the range is zeros now (no data follows). A later copy of a block overwrites an
/// earlier one, so every copy of a block travels on the same stream (its 4 MiB chunk picks it).
/// </summary>
public static class DiskBlocks
{
    public const int RunHeaderBytes = 24;
    public const uint ZeroFlag = 1;
    /// <summary>A section's payload stays under this (as memory sections do).</summary>
    public const int MaxPayloadBytes = 4 << 20;

    public static void WriteRunHeader(Span<byte> to, int disk, bool zeros, long offset, long length)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(to, (uint)disk);
        BinaryPrimitives.WriteUInt32LittleEndian(to[4..], zeros ? ZeroFlag : 0);
        BinaryPrimitives.WriteInt64LittleEndian(to[8..], offset);
        BinaryPrimitives.WriteInt64LittleEndian(to[16..], length);
    }

    /// <summary>One run of a DiskBlocks section: its bytes (empty for a zero run).</summary>
    public delegate void RunHandler(int disk, long offset, long length, bool zeros, ReadOnlySpan<byte> data);

    /// <summary>
    /// Writes every run into the destination's disks, checking each against the sizes the
    /// DiskImages section announced first (a run outside a disk is corruption, never written).
    /// Returns the bytes of data written (zero runs count their length).
    /// </summary>
    public static long Apply(ReadOnlySpan<byte> payload, IReadOnlyList<IMigratableDisk> disks, IReadOnlyList<long> sizes)
    {
        byte[]? zeros = null;
        return ForEachRun(payload, sizes, (disk, offset, length, isZero, data) =>
        {
            if (!isZero)
            {
                disks[disk].Write(offset, data);
                return;
            }
            zeros ??= new byte[64 << 10];
            for (long done = 0; done < length; done += zeros.Length)
                disks[disk].Write(offset + done, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)));
        });
    }

    /// <summary>Checks every run against the disks' sizes and hands it to <paramref name="handle"/>; returns the bytes the runs cover.</summary>
    public static long ForEachRun(ReadOnlySpan<byte> payload, IReadOnlyList<long> sizes, RunHandler handle)
    {
        long applied = 0;
        while (!payload.IsEmpty)
        {
            if (payload.Length < RunHeaderBytes) throw new ProtocolException("a disk blocks section is malformed (a truncated run)");
            uint disk = BinaryPrimitives.ReadUInt32LittleEndian(payload);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
            long offset = BinaryPrimitives.ReadInt64LittleEndian(payload[8..]);
            long length = BinaryPrimitives.ReadInt64LittleEndian(payload[16..]);
            payload = payload[RunHeaderBytes..];
            if (disk >= sizes.Count) throw new ProtocolException($"a disk blocks section names disk {disk}; the migration has {sizes.Count}");
            if ((flags & ~ZeroFlag) != 0) throw new ProtocolException($"a disk blocks section has unknown flags {flags:x}");
            if (offset < 0 || length <= 0 || length > MaxPayloadBytes || offset > sizes[(int)disk] - length)
                throw new ProtocolException($"a disk blocks section writes [{offset}, +{length}) outside disk {disk} ({sizes[(int)disk]} bytes)");
            if ((flags & ZeroFlag) != 0) handle((int)disk, offset, length, true, []);
            else
            {
                if (payload.Length < length) throw new ProtocolException("a disk blocks section is malformed (a run's data is cut short)");
                handle((int)disk, offset, length, false, payload[..(int)length]);
                payload = payload[(int)length..];
            }
            applied += length;
        }
        return applied;
    }
}
