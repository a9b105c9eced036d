namespace Ferry.Migration.Transport;

/// <summary>Closes the streams of a migration that is over, whatever state they are in: a failing link must not turn cleanup into a second error.</summary>
internal static class QuietDispose
{
    public static async Task AllAsync(IEnumerable<Stream> streams)
    {
        foreach (var stream in streams)
        {
            try { await stream.DisposeAsync(); }
            catch (Exception) { /* already broken; nothing more to tell anyone */ }
        }
    }
}
