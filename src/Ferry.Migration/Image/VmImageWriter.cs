using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Image;

/// <summary>
/// Writes a paused VM as an image: Header, Configuration, DeviceState, Memory sections, End.
/// Memory is sparse: pages the host never populated are not even read, and pages that read as
/// zero are not written. A Memory section holds runs of consecutive pages:
/// <code>  (u64 gpa | u32 page count | u32 reserved | page count × page bytes)*  </code>
/// </summary>
public static class VmImageWriter
{
    /// <summary>Payload size at which a Memory section is closed; small enough to checksum and resend cheaply.</summary>
    public const int MemorySectionBytes = 4 << 20;
    private const int RunHeaderBytes = 16;

    public static async Task<ImageStatistics> WriteAsync(IMigratableVm vm, SectionWriter writer, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        var layout = vm.Memory;
        await writer.WriteAsync(SectionType.Header, ImageHeader.Encode(layout), cancellationToken);
        await writer.WriteAsync(SectionType.Configuration, vm.Configuration, cancellationToken);
        await writer.WriteAsync(SectionType.DeviceState, vm.SaveState(), cancellationToken);

        int pageSize = layout.PageSize;
        var section = new byte[MemorySectionBytes + RunHeaderBytes + pageSize];
        int used = 0, runStart = -1;
        ulong nextGpa = ulong.MaxValue;
        long sent = 0, zero = 0, untouched = 0, scanned = 0, total = (long)layout.TotalBytes;

        async ValueTask FlushAsync()
        {
            if (used == 0) return;
            await writer.WriteAsync(SectionType.Memory, section.AsMemory(0, used), cancellationToken);
            used = 0;
            runStart = -1;
            progress?.Report(new ImageProgress(scanned, total, writer.BytesWritten));
        }

        foreach (var region in layout.Regions)
        {
            var resident = vm.ResidentPages(region);
            untouched += resident.PageCount - resident.Count();
            foreach (long page in resident.Pages())
            {
                cancellationToken.ThrowIfCancellationRequested();
                ulong gpa = region.Gpa + (ulong)page * (ulong)pageSize;
                if (gpa != nextGpa || runStart < 0)
                {
                    if (used + RunHeaderBytes + pageSize > MemorySectionBytes) await FlushAsync();
                    runStart = used;
                    BinaryPrimitives.WriteUInt64LittleEndian(section.AsSpan(used), gpa);
                    BinaryPrimitives.WriteUInt32LittleEndian(section.AsSpan(used + 8), 0);
                    used += RunHeaderBytes;
                }
                var slot = section.AsSpan(used, pageSize);
                vm.ReadGuest(gpa, slot);
                if (slot.IndexOfAnyExcept((byte)0) < 0)
                {
                    zero++;
                    nextGpa = ulong.MaxValue; // the run breaks at a zero page
                    if (used - runStart == RunHeaderBytes) { used = runStart; runStart = -1; }
                    continue;
                }
                used += pageSize;
                sent++;
                var run = section.AsSpan(runStart);
                BinaryPrimitives.WriteUInt32LittleEndian(run[8..], BinaryPrimitives.ReadUInt32LittleEndian(run[8..]) + 1);
                nextGpa = gpa + (ulong)pageSize;
                if (used + pageSize > MemorySectionBytes) await FlushAsync();
            }
            scanned += (long)region.SizeBytes;
        }
        await FlushAsync();
        await writer.WriteEndAsync(cancellationToken);
        progress?.Report(new ImageProgress(total, total, writer.BytesWritten));
        return new ImageStatistics(sent, zero, untouched, writer.BytesWritten);
    }
}
