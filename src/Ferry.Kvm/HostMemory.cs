using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;

namespace Ferry.Kvm;

/// <summary>
/// An anonymous, lazily populated host mapping that backs guest RAM. MAP_NORESERVE lets a
/// 16 GiB guest exist on a smaller host: pages take host memory only when first touched.
/// </summary>
public sealed unsafe class HostMemory : IDisposable
{
    public const int PageSize = 4096;
    private byte* _base;

    private HostMemory(byte* address, ulong sizeBytes) { _base = address; SizeBytes = sizeBytes; }

    public ulong SizeBytes { get; }
    public nint Address => (nint)_base;

    /// <summary>
    /// Maps <paramref name="sizeBytes"/> of zeroed, private anonymous memory. Nothing else shares
    /// it: a post-copy destination registers it with userfaultfd as it is (missing-page mode works
    /// on private anonymous memory), and Discard makes pages missing again.
    /// </summary>
    public static HostMemory MapAnonymous(ulong sizeBytes)
    {
        void* p = LibC.Mmap(null, (nuint)sizeBytes, LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if (p == (void*)-1)
            throw new KvmException($"mapping {sizeBytes >> 20} MiB of guest memory", Marshal.GetLastPInvokeError(),
                "the host cannot map that much; choose a smaller --memory");
        // Guest memory in a core dump of the VMM would be huge and could leak guest data.
        LibC.Madvise(p, (nuint)sizeBytes, LibC.MADV_DONTDUMP);
        return new HostMemory((byte*)p, sizeBytes);
    }

    public Span<byte> Slice(ulong offset, int length)
    {
        if (offset + (ulong)length > SizeBytes) throw new ArgumentOutOfRangeException(nameof(offset));
        return new Span<byte>(_base + offset, length);
    }

    /// <summary>The same bytes as <see cref="Slice"/>, as Memory for async I/O straight into or out of the mapping.</summary>
    public Memory<byte> Memory(ulong offset, int length)
    {
        if (offset + (ulong)length > SizeBytes) throw new ArgumentOutOfRangeException(nameof(offset));
        return new NativeMemoryRange(_base + offset, length).Memory;
    }

    /// <summary>mincore: marks in <paramref name="resident"/> (one byte per page) the pages present in host RAM.</summary>
    public void GetResidentPages(ulong offset, ulong length, Span<byte> resident)
    {
        if (offset % PageSize != 0 || offset + length > SizeBytes || (ulong)resident.Length < (length + PageSize - 1) / PageSize)
            throw new ArgumentOutOfRangeException(nameof(offset));
        fixed (byte* vec = resident)
            if (LibC.Mincore(_base + offset, (nuint)length, vec) != 0)
                throw new KvmException("mincore", Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Faults a range in, writable, in one call (MADV_POPULATE_WRITE, Linux 5.14+): far cheaper
    /// than one page fault per 4 KiB when a restore or a migration is about to fill it. Best
    /// effort: on older kernels the writes fault the pages in as usual.
    /// </summary>
    public void Prefault(ulong offset, ulong length)
    {
        if (offset + length > SizeBytes) throw new ArgumentOutOfRangeException(nameof(offset));
        ulong start = offset & ~(ulong)(PageSize - 1);
        LibC.Madvise(_base + start, (nuint)(offset + length - start), LibC.MADV_POPULATE_WRITE);
    }

    /// <summary>Returns a range to the host (it reads as zeros again).</summary>
    public void Discard(ulong offset, ulong length)
    {
        if (LibC.Madvise(_base + offset, (nuint)length, LibC.MADV_DONTNEED) != 0)
            throw new KvmException("madvise(MADV_DONTNEED)", Marshal.GetLastPInvokeError());
    }

    public void Dispose()
    {
        if (_base == null) return;
        LibC.Munmap(_base, (nuint)SizeBytes);
        _base = null;
    }
}
