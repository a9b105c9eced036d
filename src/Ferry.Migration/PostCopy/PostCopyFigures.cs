using System.Buffers.Binary;

namespace Ferry.Migration.PostCopy;

/// <summary>
/// What the destination measured of a post-copy phase, sent back in PostCopyDone so the source's
/// report (the one `ferry migrate` prints) has it. Latency is from the first fault on a page the
/// source held to that page's install, as the guest feels it; faults on pages that are zero are
/// resolved locally and counted apart.
/// </summary>
public sealed record PostCopyFigures(
    long Faults,
    long ZeroFaults,
    long RequestedPages,
    long PagesByRequest,
    long PagesByPush,
    TimeSpan LatencyP50,
    TimeSpan LatencyP99,
    TimeSpan LatencyMax,
    IReadOnlyList<long> LatencyHistogram,
    IReadOnlyList<KeyValuePair<string, TimeSpan>> BlockedPerThread,
    TimeSpan AllPresentAfterResume)
{
    /// <summary>Upper bounds of the latency histogram's buckets in µs; the last bucket holds the rest.</summary>
    public static readonly int[] HistogramBoundsMicroseconds = [25, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000];
    private const int MaxThreads = 256, MaxName = 64;

    public byte[] Encode()
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Faults); w.Write(ZeroFaults); w.Write(RequestedPages); w.Write(PagesByRequest); w.Write(PagesByPush);
        w.Write(LatencyP50.Ticks); w.Write(LatencyP99.Ticks); w.Write(LatencyMax.Ticks); w.Write(AllPresentAfterResume.Ticks);
        w.Write(LatencyHistogram.Count);
        foreach (long n in LatencyHistogram) w.Write(n);
        var threads = BlockedPerThread.Take(MaxThreads).ToList();
        w.Write(threads.Count);
        foreach (var (name, blocked) in threads)
        {
            w.Write(name.Length > MaxName ? name[..MaxName] : name);
            w.Write(blocked.Ticks);
        }
        w.Flush();
        return ms.ToArray();
    }

    public static PostCopyFigures Decode(ReadOnlySpan<byte> payload)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(payload.ToArray()));
            long faults = r.ReadInt64(), zero = r.ReadInt64(), requested = r.ReadInt64(), byRequest = r.ReadInt64(), byPush = r.ReadInt64();
            var p50 = Ticks(r.ReadInt64()); var p99 = Ticks(r.ReadInt64()); var max = Ticks(r.ReadInt64()); var all = Ticks(r.ReadInt64());
            int buckets = r.ReadInt32();
            if (buckets is < 0 or > 64) throw new ProtocolException("the destination's post-copy figures are malformed");
            var histogram = new long[buckets];
            for (int i = 0; i < buckets; i++) histogram[i] = r.ReadInt64();
            int threads = r.ReadInt32();
            if (threads is < 0 or > MaxThreads) throw new ProtocolException("the destination's post-copy figures are malformed");
            var blocked = new List<KeyValuePair<string, TimeSpan>>();
            for (int i = 0; i < threads; i++) blocked.Add(new(r.ReadString(), Ticks(r.ReadInt64())));
            if (r.BaseStream.Position != payload.Length) throw new ProtocolException("the destination's post-copy figures have trailing bytes");
            return new PostCopyFigures(faults, zero, requested, byRequest, byPush, p50, p99, max, histogram, blocked, all);
        }
        catch (EndOfStreamException) { throw new ProtocolException("the destination's post-copy figures are truncated"); }
    }

    private static TimeSpan Ticks(long ticks) => ticks >= 0 ? TimeSpan.FromTicks(ticks) : throw new ProtocolException("the destination's post-copy figures hold a negative time");
}
