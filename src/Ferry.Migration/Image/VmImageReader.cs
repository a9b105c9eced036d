using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Image;

/// <summary>
/// Reads an image into a new VM that the caller's factory creates from the Configuration
/// section. The primary stream is Header, Configuration, then one of two shapes: DeviceState
/// and memory sections (Memory, CompressedMemory, ZeroPages) — a snapshot or a cold migration —
/// or memory sections in rounds (each ended by RoundEnd), then at most one PostCopyPages and at
/// most one MemoryDigest, then DeviceState — a live migration; End closes both. Each page comes
/// at most once per round (<see cref="PageClaims"/>). Anything else is refused, naming the
/// section. Further streams of a live migration hold only memory sections, RoundEnd and End. The VM is handed back only when every
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
        bool live = onRoundEnd is not null, first = true, stateFirst = false;
        while (true)
        {
            var frame = await reader.ReadFrameAsync(cancellationToken);
            // Two shapes: state first, then memory (a snapshot, a cold migration), or memory in
            // rounds, then the switchover's sections and the state last (a live migration).
            bool switchedOver = postCopyPages is not null || digest is not null || (deviceState is not null && !stateFirst);
            if (PageLoader.Handles(frame.Type))
            {
                if (switchedOver) throw OutOfPlace(frame, "guest memory after the switchover's sections");
                received += await loader.LoadAsync(reader, frame, cancellationToken);
                progress?.Report(new ImageProgress(Math.Min(received, total), total, reader.BytesRead));
                first = false;
                continue;
            }
            (type, payload) = (frame.Type, await reader.ReadPayloadAsync(cancellationToken));
            if (type == SectionType.End) break;
            switch (type)
            {
                case SectionType.DeviceState:
                    if (deviceState is not null) throw OutOfPlace(frame, "a second device state");
                    deviceState = payload.ToArray(); // the reader reuses its buffer
                    stateFirst = first;
                    break;
                case SectionType.RoundEnd when live:
                    if (switchedOver || deviceState is not null) throw OutOfPlace(frame, "a round's end after the switchover");
                    if (payload.Length != 4) throw new ProtocolException($"{frame.Name} is malformed ({payload.Length} bytes, not 4)");
                    loader.NewRound();
                    await onRoundEnd!((int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(payload.Span));
                    break;
                case SectionType.PostCopyPages when live:
                    if (switchedOver || deviceState is not null) throw OutOfPlace(frame, "post-copy pages after the switchover's other sections, or twice");
                    postCopyPages = PostCopy.PostCopyPages.Decode(payload.Span, layout);
                    break;
                case SectionType.MemoryDigest:
                    if (digest is not null || deviceState is not null) throw OutOfPlace(frame, "a memory digest after the device state, or twice");
                    if (payload.Length != 8) throw new ProtocolException($"{frame.Name} is malformed ({payload.Length} bytes, not 8)");
                    digest = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(payload.Span);
                    break;
                default:
                    throw new ProtocolException($"unexpected {SectionNames.Of(type)} section ({frame.Name}{(live ? "" : " in an image")})");
            }
            first = false;
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
            {
                loader.NewRound();
                await onRoundEnd((int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(payload.Span));
            }
            else
                throw new ProtocolException($"unexpected {SectionNames.Of(type)} section in a memory stream");
        }
    }

    private static ProtocolException OutOfPlace(SectionFrame frame, string what) =>
        new($"{frame.Name} is out of order: {what} (a sender writes each section once, in the order of docs/migration-protocol.md)");

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
