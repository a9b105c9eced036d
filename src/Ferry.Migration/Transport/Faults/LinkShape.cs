namespace Ferry.Migration.Transport.Faults;

/// <summary>
/// What a shaped link is like, in each direction: at most <paramref name="BitsPerSecond"/> on the
/// wire, and every byte arrives <paramref name="Latency"/> after it was sent (one way, on top of
/// its time on the wire).
/// </summary>
public sealed record LinkShape(long BitsPerSecond, TimeSpan Latency)
{
    public static LinkShape Rate(long bitsPerSecond) => new(bitsPerSecond, TimeSpan.Zero);

    /// <summary>A piece of about 10 ms of the rate (1 to 64 KiB): fine enough that latency and rate are felt per piece, not per buffer.</summary>
    internal int PieceBytes => (int)Math.Clamp(BitsPerSecond / 8 / 100, 1 << 10, 64 << 10);

    /// <summary>How long <paramref name="bytes"/> take on the wire.</summary>
    internal TimeSpan OnTheWire(int bytes) => TimeSpan.FromSeconds(bytes * 8.0 / BitsPerSecond);

    internal void Validate()
    {
        if (BitsPerSecond <= 0) throw new ArgumentOutOfRangeException(nameof(BitsPerSecond), BitsPerSecond, "a link carries at least one bit per second");
        if (Latency < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Latency), Latency, "latency cannot be negative");
    }
}
