using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Image;

/// <summary>
/// Reads an image into a new VM that the caller's factory creates from the Configuration
/// section. The VM is handed back only when every section arrived intact and the End section
/// confirmed the whole; on any error it is disposed, so nothing is ever half-restored.
/// </summary>
public static class VmImageReader
{
    public static async Task<IMigratableVm> ReadAsync(SectionReader reader, Func<ReadOnlyMemory<byte>, IMigratableVm> createVm,
        IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        var (type, payload) = await reader.ReadAsync(cancellationToken);
        if (type != SectionType.Header) throw new ProtocolException($"not a Ferry VM image: it starts with {SectionNames.Of(type)}, not a header");
        var layout = ImageHeader.Decode(payload.Span);

        (type, payload) = await reader.ReadAsync(cancellationToken);
        Expect(type, SectionType.Configuration);
        var vm = createVm(payload);
        try
        {
            if (!ImageHeader.SameLayout(vm.Memory, layout))
                throw new ProtocolException("the image's memory layout does not match the VM its configuration describes");
            (type, payload) = await reader.ReadAsync(cancellationToken);
            Expect(type, SectionType.DeviceState);
            byte[] deviceState = payload.ToArray(); // the reader reuses its buffer

            long total = (long)layout.TotalBytes, received = 0;
            while (true)
            {
                (type, payload) = await reader.ReadAsync(cancellationToken);
                if (type == SectionType.End) break;
                Expect(type, SectionType.Memory);
                received += LoadMemory(vm, layout, payload.Span);
                progress?.Report(new ImageProgress(Math.Min(received, total), total, reader.BytesRead));
            }
            vm.LoadState(deviceState);
            progress?.Report(new ImageProgress(total, total, reader.BytesRead));
            return vm;
        }
        catch
        {
            (vm as IDisposable)?.Dispose();
            throw;
        }
    }

    private static void Expect(SectionType actual, SectionType expected)
    {
        if (actual != expected)
            throw new ProtocolException($"expected the {SectionNames.Of(expected)} section, found {SectionNames.Of(actual)}");
    }

    /// <summary>Writes the runs of one Memory section; every run must lie inside guest RAM.</summary>
    private static long LoadMemory(IMigratableVm vm, GuestMemoryLayout layout, ReadOnlySpan<byte> payload)
    {
        long bytes = 0;
        int pageSize = layout.PageSize;
        while (!payload.IsEmpty)
        {
            if (payload.Length < 16) throw new ProtocolException("a memory section ends inside a run header");
            ulong gpa = BinaryPrimitives.ReadUInt64LittleEndian(payload);
            uint pages = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
            long length = (long)pages * pageSize;
            if (pages == 0 || length > payload.Length - 16 || gpa % (ulong)pageSize != 0
                || !layout.Regions.Any(r => r.Contains(gpa) && gpa + (ulong)length <= r.EndGpa))
                throw new ProtocolException($"a memory section holds an invalid run (gpa 0x{gpa:x}, {pages} pages)");
            vm.WriteGuest(gpa, payload.Slice(16, (int)length));
            bytes += length;
            payload = payload[(16 + (int)length)..];
        }
        return bytes;
    }
}
