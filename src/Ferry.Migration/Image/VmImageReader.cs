using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Image;

/// <summary>
/// Reads an image into a new VM that the caller's factory creates from the Configuration
/// section. The primary stream is Header, Configuration, then in any order memory sections
/// (Memory, CompressedMemory, ZeroPages), exactly one DeviceState and at most one MemoryDigest,
/// then End: a snapshot puts the device state first, a live migration last. Further streams of
/// a live migration hold only memory sections and End. The VM is handed back only when every
/// section arrived intact; on any error it is disposed, so nothing is ever half-restored.
/// </summary>
public static class VmImageReader
{
    /// <summary>Reads a whole single-stream image (a snapshot) and loads its state.</summary>
    public static async Task<IMigratableVm> ReadAsync(SectionReader reader, Func<ReadOnlyMemory<byte>, IMigratableVm> createVm,
        IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        IMigratableVm? created = null;
        try
        {
            var image = await ReadPrimaryAsync(reader, createVm, vm => created = vm, progress, null, cancellationToken);
            if (image.PostCopyPages is not null) throw new ProtocolException("unexpected post-copy pages section: an image holds all of its memory");
            image.Vm.LoadState(image.DeviceState);
            return image.Vm;
        }
        catch
        {
            (created as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the primary stream; the device state is returned, not loaded, so the caller can wait
    /// for other streams first. The VM is handed to <paramref name="onCreated"/> as soon as it
    /// exists; on error the caller disposes it (once no other stream writes into it).
    /// </summary>
    public static async Task<ReceivedImage> ReadPrimaryAsync(SectionReader reader, Func<ReadOnlyMemory<byte>, IMigratableVm> createVm,
        Action<IMigratableVm> onCreated, IProgress<ImageProgress>? progress, Func<int, Task>? onRoundEnd, CancellationToken cancellationToken)
    {
        var (type, payload) = await reader.ReadAsync(cancellationToken);
        if (type != SectionType.Header) throw new ProtocolException($"not a Ferry VM image: it starts with {SectionNames.Of(type)}, not a header");
        var layout = ImageHeader.Decode(payload.Span);

        (type, payload) = await reader.ReadAsync(cancellationToken);
        Expect(type, SectionType.Configuration);
        var vm = createVm(payload);
        onCreated(vm);
        if (!ImageHeader.SameLayout(vm.Memory, layout))
            throw new ProtocolException("the image's memory layout does not match the VM its configuration describes");
        var loader = new PageLoader(vm, layout);
        byte[]? deviceState = null;
        ulong? digest = null;
        IReadOnlyList<PageSet>? postCopyPages = null;
        long total = (long)layout.TotalBytes, received = 0;
        while (true)
        {
            var frame = await reader.ReadFrameAsync(cancellationToken);
            if (PageLoader.Handles(frame.Type))
            {
                received += await loader.LoadAsync(reader, frame, cancellationToken);
                progress?.Report(new ImageProgress(Math.Min(received, total), total, reader.BytesRead));
                continue;
            }
            (type, payload) = (frame.Type, await reader.ReadPayloadAsync(cancellationToken));
            if (type == SectionType.End) break;
            if (type == SectionType.DeviceState && deviceState is null)
                deviceState = payload.ToArray(); // the reader reuses its buffer
            else if (type == SectionType.RoundEnd && onRoundEnd is not null && payload.Length == 4)
                await onRoundEnd((int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(payload.Span));
            else if (type == SectionType.PostCopyPages && postCopyPages is null && onRoundEnd is not null)
                postCopyPages = PostCopy.PostCopyPages.Decode(payload.Span, layout);
            else if (type == SectionType.MemoryDigest && digest is null && payload.Length == 8)
                digest = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload.Span);
            else
                throw new ProtocolException($"unexpected {SectionNames.Of(type)} section");
        }
        if (deviceState is null) throw new ProtocolException("the image ended without its device state section");
        progress?.Report(new ImageProgress(total, total, reader.BytesRead));
        return new ReceivedImage(vm, deviceState, digest, postCopyPages);
    }

    /// <summary>Reads one further stream of a live migration into the VM the primary stream creates.</summary>
    public static async Task ReadMemoryStreamAsync(SectionReader reader, Task<IMigratableVm> vmCreated, Func<int, Task> onRoundEnd, CancellationToken cancellationToken)
    {
        var frame = await reader.ReadFrameAsync(cancellationToken);
        var vm = await vmCreated.WaitAsync(cancellationToken);
        var loader = new PageLoader(vm, vm.Memory);
        for (; ; frame = await reader.ReadFrameAsync(cancellationToken))
        {
            if (PageLoader.Handles(frame.Type))
            {
                await loader.LoadAsync(reader, frame, cancellationToken);
                continue;
            }
            var (type, payload) = (frame.Type, await reader.ReadPayloadAsync(cancellationToken));
            if (type == SectionType.End) break;
            if (type == SectionType.RoundEnd && payload.Length == 4)
                await onRoundEnd((int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(payload.Span));
            else
                throw new ProtocolException($"unexpected {SectionNames.Of(type)} section in a memory stream");
        }
    }

    private static void Expect(SectionType actual, SectionType expected)
    {
        if (actual != expected)
            throw new ProtocolException($"expected the {SectionNames.Of(expected)} section, found {SectionNames.Of(actual)}");
    }
}

/// <summary>
/// A VM whose memory arrived (all of it, or with PostCopyPages the pages still to fetch), with the
/// device state still to load and the source's memory digest if it sent one.
/// </summary>
public sealed record ReceivedImage(IMigratableVm Vm, byte[] DeviceState, ulong? MemoryDigest, IReadOnlyList<PageSet>? PostCopyPages);
