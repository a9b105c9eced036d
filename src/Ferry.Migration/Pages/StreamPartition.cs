namespace Ferry.Migration.Pages;

/// <summary>
/// Which stream of a migration carries a page: its 2 MiB chunk decides, so every copy of a page
/// travels on the same stream (a newer copy can never overtake an older one) and each stream
/// still gets long runs of consecutive pages.
/// </summary>
public static class StreamPartition
{
    private const int ChunkShift = 21;

    public static int StreamOf(ulong gpa, int streams) => streams == 1 ? 0 : (int)((gpa >> ChunkShift) % (ulong)streams);

    /// <summary>The addresses of the pages in <paramref name="sets"/> that stream <paramref name="stream"/> of <paramref name="streams"/> carries, in ascending order.</summary>
    public static IEnumerable<ulong> PagesOf(IEnumerable<Vm.PageSet> sets, int stream, int streams)
    {
        foreach (var set in sets)
            foreach (long page in set.Pages())
            {
                ulong gpa = set.Region.Gpa + (ulong)page * (ulong)set.PageSize;
                if (StreamOf(gpa, streams) == stream) yield return gpa;
            }
    }
}
