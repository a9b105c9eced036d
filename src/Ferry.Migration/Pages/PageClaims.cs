using Ferry.Migration.Format;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Pages;

/// <summary>
/// Which pages a stream has already filled in the current round. A sender never puts a page
/// twice into one round (a live round sends each dirty page once, a snapshot or a cold
/// migration each page once), so a second claim is refused: the work a peer can make this side
/// do per round is then bounded by the guest's size, however few bytes it sends (a zero-pages
/// section of 16-byte runs could otherwise ask for the whole of RAM to be zeroed again and
/// again). Cleared at each RoundEnd.
/// </summary>
public sealed class PageClaims(GuestMemoryLayout layout)
{
    private readonly ulong[] _claimed = new ulong[(layout.TotalPages + 63) / 64];
    private readonly int _pageShift = System.Numerics.BitOperations.Log2((uint)layout.PageSize);
    private bool _any;

    /// <summary>Claims a run that lies inside guest RAM; throws ProtocolException naming <paramref name="section"/> if any page of it was claimed before.</summary>
    public void Claim(ulong gpa, long pages, string section)
    {
        long first = IndexOf(gpa);
        for (long p = first; p < first + pages; p++)
        {
            ref ulong word = ref _claimed[p >> 6];
            ulong bit = 1UL << (int)(p & 63);
            if ((word & bit) != 0)
                throw new ProtocolException($"{section} sends page 0x{gpa + (ulong)((p - first) << _pageShift):x} a second time in one round (a sender sends each page once)");
            word |= bit;
        }
        _any = true;
    }

    /// <summary>A RoundEnd arrived: the next round may send every page again.</summary>
    public void NewRound()
    {
        if (_any) Array.Clear(_claimed);
        _any = false;
    }

    private long IndexOf(ulong gpa)
    {
        long before = 0;
        foreach (var r in layout.Regions)
        {
            if (r.Contains(gpa)) return before + (long)((gpa - r.Gpa) >> _pageShift);
            before += (long)(r.SizeBytes >> _pageShift);
        }
        throw new ArgumentOutOfRangeException(nameof(gpa), "the run was checked to lie in RAM");
    }
}
