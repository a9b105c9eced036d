namespace Ferry.Migration.Image;

/// <summary>What went into an image: pages sent, pages skipped because the guest never touched them or they held zeros.</summary>
public sealed record ImageStatistics(long PagesSent, long ZeroPagesSkipped, long UntouchedPagesSkipped, long BytesTransferred);
