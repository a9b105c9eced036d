using Ferry.Migration.Image;
using Ferry.Migration.Reporting;

namespace Ferry.Migration.Cold;

/// <summary>
/// Shows a cold migration's progress as an image being written, like a snapshot: bytes of guest
/// RAM done out of the total. A cold migration has one transfer, whose first report still has
/// all of it to go, so the largest remainder seen is the total.
/// </summary>
public sealed class ColdProgress(IProgress<ImageProgress> image) : IProgress<MigrationProgress>
{
    private long _totalBytes;

    public void Report(MigrationProgress value)
    {
        _totalBytes = Math.Max(_totalBytes, value.RemainingBytes);
        image.Report(new ImageProgress(_totalBytes - value.RemainingBytes, _totalBytes, value.BytesTransferred));
    }
}
