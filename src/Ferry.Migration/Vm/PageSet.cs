using System.Numerics;

namespace Ferry.Migration.Vm;

/// <summary>A set of pages of one region, as a bitmap (bit i = the page at region.Gpa + i × page size).</summary>
public sealed class PageSet
{
    private readonly ulong[] _bits;

    public PageSet(MemoryRegion region, int pageSize)
    {
        Region = region;
        PageSize = pageSize;
        PageCount = (long)(region.SizeBytes / (ulong)pageSize);
        _bits = new ulong[(PageCount + 63) / 64];
    }

    public MemoryRegion Region { get; }
    public int PageSize { get; }
    public long PageCount { get; }

    /// <summary>The raw bitmap, for code that fills it in bulk (KVM's dirty log uses the same layout).</summary>
    public Span<ulong> Bits => _bits;

    public bool Contains(long page) => (_bits[page >> 6] & (1UL << (int)(page & 63))) != 0;
    public void Add(long page) => _bits[page >> 6] |= 1UL << (int)(page & 63);

    /// <summary>Adds every page of <paramref name="other"/>, a set over the same region.</summary>
    public void UnionWith(PageSet other)
    {
        if (other.Region != Region || other.PageSize != PageSize) throw new ArgumentException("the sets cover different regions", nameof(other));
        for (int i = 0; i < _bits.Length; i++) _bits[i] |= other._bits[i];
    }

    public long Count()
    {
        long n = 0;
        foreach (ulong word in _bits) n += BitOperations.PopCount(word);
        return n;
    }

    /// <summary>The set pages in ascending order.</summary>
    public IEnumerable<long> Pages()
    {
        for (int w = 0; w < _bits.Length; w++)
            for (ulong word = _bits[w]; word != 0; word &= word - 1)
                yield return ((long)w << 6) + BitOperations.TrailingZeroCount(word);
    }
}
