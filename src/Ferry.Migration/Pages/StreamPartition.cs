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
}
