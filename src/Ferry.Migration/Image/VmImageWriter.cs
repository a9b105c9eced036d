using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Image;

/// <summary>
/// Writes a paused VM as an image: Header, Configuration, DeviceState, Memory sections, End.
/// Memory is sparse: pages the host never populated are not even read, and pages that read as
/// zero are not written (see PageWriter for the Memory section's runs).
/// </summary>
public static class VmImageWriter
{
    public static async Task<ImageStatistics> WriteAsync(IMigratableVm vm, SectionWriter writer, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        var layout = vm.Memory;
        await writer.WriteAsync(SectionType.Header, ImageHeader.Encode(layout), cancellationToken);
        await writer.WriteAsync(SectionType.Configuration, vm.Configuration, cancellationToken);
        await writer.WriteAsync(SectionType.DeviceState, vm.SaveState(), cancellationToken);

        var pages = new PageWriter(vm, writer, new PageWriterOptions());
        long untouched = 0, scanned = 0, total = (long)layout.TotalBytes;
        foreach (var region in layout.Regions)
        {
            var resident = vm.ResidentPages(region);
            untouched += resident.PageCount - resident.Count();
            long added = 0;
            foreach (long page in resident.Pages())
            {
                cancellationToken.ThrowIfCancellationRequested();
                await pages.AddAsync(region.Gpa + (ulong)page * (ulong)layout.PageSize, cancellationToken);
                if (++added % 1024 == 0) progress?.Report(new ImageProgress(scanned + page * layout.PageSize, total, writer.BytesWritten));
            }
            scanned += (long)region.SizeBytes;
        }
        await pages.FlushAsync(cancellationToken);
        await writer.WriteEndAsync(cancellationToken);
        progress?.Report(new ImageProgress(total, total, writer.BytesWritten));
        return new ImageStatistics(pages.PagesSent, pages.ZeroPages, untouched, writer.BytesWritten);
    }
}
