namespace Ferry.Migration.Vm;

/// <summary>One disk image as the engine sees it: its bytes, where it holds data, and the blocks the guest writes.</summary>
public interface IMigratableDisk
{
    long SizeBytes { get; }

    /// <summary>The ranges that may hold data, in order (SEEK_DATA/SEEK_HOLE); the rest reads as zeros and need not travel.</summary>
    IReadOnlyList<(long Offset, long Length)> DataExtents();

    void Read(long offset, Span<byte> destination);

    /// <summary>At a destination, before the VM runs: writes the copy.</summary>
    void Write(long offset, ReadOnlySpan<byte> source);

    /// <summary>At a destination: what was written reaches stable storage (fdatasync).</summary>
    void Flush();

    /// <summary>Starts tracking the guest's writes (and discards) by block of <paramref name="blockBytes"/>; disposing the log stops it.</summary>
    IDiskWriteLog StartWriteLog(int blockBytes);

    /// <summary>
    /// At a post-copy destination: from now on the guest's reads and writes ask
    /// <paramref name="gate"/> first; null lets them go straight to the image again (every block is here).
    /// The engine's own <see cref="Write"/> never asks: it is how the blocks arrive.
    /// </summary>
    void SetPostCopyGate(IDiskBlockGate? gate);
}
