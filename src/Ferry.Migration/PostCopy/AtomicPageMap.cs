using Ferry.Migration.Vm;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// One bit per page of all guest RAM, set from several threads at once (the fault path and the
/// push readers race for the same pages, and exactly one of them must count each).
/// </summary>
public sealed class AtomicPageMap
{
    private readonly GuestMemoryLayout _layout;
    private readonly long[] _firstPage; // global index of each region's first page
    private readonly ulong[] _bits;

    public AtomicPageMap(GuestMemoryLayout layout)
    {
        _layout = layout;
        _firstPage = new long[layout.Regions.Count];
        long pages = 0;
        for (int i = 0; i < layout.Regions.Count; i++)
        {
            _firstPage[i] = pages;
            pages += (long)(layout.Regions[i].SizeBytes / (ulong)layout.PageSize);
        }
        PageCount = pages;
        _bits = new ulong[(pages + 63) / 64];
    }

    public long PageCount { get; }

    /// <summary>The map of the pages in <paramref name="sets"/> (one set per region, in layout order).</summary>
    public static AtomicPageMap Of(GuestMemoryLayout layout, IReadOnlyList<PageSet> sets)
    {
        var map = new AtomicPageMap(layout);
        for (int r = 0; r < sets.Count; r++)
        {
            long first = map._firstPage[r];
            var bits = sets[r].Bits;
            // Regions are whole 2 MiB multiples, so each starts on a word: copy words, not pages
            // (this runs inside the downtime, on millions of pages for a large guest).
            if (first % 64 == 0) bits.CopyTo(map._bits.AsSpan((int)(first / 64), bits.Length));
            else foreach (long p in sets[r].Pages()) map.Set(first + p);
        }
        return map;
    }

    /// <summary>The pages in this map and not in <paramref name="other"/>, one set per region: word by word, as <see cref="Of"/> builds it.</summary>
    public IReadOnlyList<PageSet> Except(AtomicPageMap other)
    {
        var sets = new List<PageSet>();
        for (int r = 0; r < _layout.Regions.Count; r++)
        {
            var set = new PageSet(_layout.Regions[r], _layout.PageSize);
            long first = _firstPage[r];
            var bits = set.Bits;
            if (first % 64 == 0)
                for (int w = 0; w < bits.Length; w++)
                    bits[w] = Volatile.Read(ref _bits[first / 64 + w]) & ~Volatile.Read(ref other._bits[first / 64 + w]);
            else
                for (long p = 0; p < set.PageCount; p++)
                    if (Contains(first + p) && !other.Contains(first + p)) set.Add(p);
            sets.Add(set);
        }
        return sets;
    }

    /// <summary>The global index of the page at <paramref name="gpa"/>, or -1 outside guest RAM.</summary>
    public long IndexOf(ulong gpa)
    {
        for (int i = 0; i < _layout.Regions.Count; i++)
            if (_layout.Regions[i].Contains(gpa)) return _firstPage[i] + (long)((gpa - _layout.Regions[i].Gpa) / (ulong)_layout.PageSize);
        return -1;
    }

    public ulong GpaOf(long index)
    {
        for (int i = _firstPage.Length - 1; i >= 0; i--)
            if (index >= _firstPage[i]) return _layout.Regions[i].Gpa + (ulong)(index - _firstPage[i]) * (ulong)_layout.PageSize;
        throw new ArgumentOutOfRangeException(nameof(index));
    }

    public bool Contains(long index) => (Volatile.Read(ref _bits[index >> 6]) & (1UL << (int)(index & 63))) != 0;

    /// <summary>Sets the bit; true if this call set it (it was clear).</summary>
    public bool Set(long index)
    {
        ulong bit = 1UL << (int)(index & 63);
        return (Interlocked.Or(ref _bits[index >> 6], bit) & bit) == 0;
    }

    public long Count()
    {
        long n = 0;
        foreach (ulong w in _bits) n += System.Numerics.BitOperations.PopCount(w);
        return n;
    }
}
