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
    public static Task<ReceivedImage> ReadPrimaryAsync(SectionReader reader, Func<ReadOnlyMemory<byte>, IMigratableVm> createVm,
        Action<IMigratableVm> onCreated, IProgress<ImageProgress>? progress, Func<int, Task>? onRoundEnd, CancellationToken cancellationToken) =>
        ReadPrimaryAsync(reader, createVm, onCreated, progress, onRoundEnd, null, cancellationToken);

    /// <param name="onDiskImages">
    /// A migration's destination: called with the sizes of the disks that travel with the VM
    /// (`--copy-storage`, a DiskImages section before the Configuration), before the VM is created,
    /// so the images can be made first. Null: such a section is refused (a snapshot holds none).
    /// </param>
    public static async Task<ReceivedImage> ReadPrimaryAsync(SectionReader reader, Func<ReadOnlyMemory<byte>, IMigratableVm> createVm,
        Action<IMigratableVm> onCreated, IProgress<ImageProgress>? progress, Func<int, Task>? onRoundEnd,
        Action<IReadOnlyList<long>>? onDiskImages, CancellationToken cancellationToken)
    {
        var (type, payload) = await reader.ReadAsync(cancellationToken);
        if (type != SectionType.Header) throw new ProtocolException($"not a Ferry VM image: it starts with {SectionNames.Of(type)}, not a header");
        var layout = ImageHeader.Decode(payload.Span);

        (type, payload) = await reader.ReadAsync(cancellationToken);
        IReadOnlyList<long>? diskSizes = null;
        if (type == SectionType.DiskImages && onDiskImages is not null)
        {
            diskSizes = Storage.DiskImages.Decode(payload.Span);
            onDiskImages(diskSizes);
            (type, payload) = await reader.ReadAsync(cancellationToken);
        }
        else if (type == SectionType.DiskImages)
            throw new ProtocolException("the source copies its disks (--copy-storage), which this reader cannot take (a snapshot holds no disk images)");
        Expect(type, SectionType.Configuration);
        var vm = createVm(payload);
        onCreated(vm);
        if (!ImageHeader.SameLayout(vm.Memory, layout))
            throw new ProtocolException("the image's memory layout does not match the VM its configuration describes");
        var disks = diskSizes is null ? null : CopiedDisks(vm, diskSizes);
        long diskBytes = 0;
        var loader = new PageLoader(vm, layout);
        byte[]? deviceState = null;
        ulong? digest = null;
        IReadOnlyList<PageSet>? postCopyPages = null;
        ulong[][]? missingBlocks = null;
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
                case SectionType.PostCopyDiskBlocks when live && disks is not null:
                    if (postCopyPages is null || missingBlocks is not null || digest is not null || deviceState is not null)
                        throw OutOfPlace(frame, "post-copy disk blocks not right after the post-copy pages, or twice");
                    missingBlocks = Storage.MissingDiskBlocks.Decode(payload.Span, diskSizes!);
                    break;
                case SectionType.DiskBlocks when disks is not null:
                    if (missingBlocks is not null) throw OutOfPlace(frame, "disk blocks after the post-copy disk blocks (the source sends the rest after the resume)");
                    if (deviceState is not null) throw OutOfPlace(frame, "disk blocks after the device state");
                    diskBytes += Storage.DiskBlocks.Apply(payload.Span, disks, diskSizes!);
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
        return new ReceivedImage(vm, deviceState, digest, postCopyPages) { Disks = disks, DiskSizes = diskSizes, DiskBytes = diskBytes, PostCopyDiskBlocks = missingBlocks };
    }

    /// <summary>The destination VM's disks, which must match the ones the source copies, one for one.</summary>
    private static IReadOnlyList<IMigratableDisk> CopiedDisks(IMigratableVm vm, IReadOnlyList<long> sizes)
    {
        var disks = (vm as IMigratableDisks)?.Disks ?? [];
        if (disks.Count != sizes.Count)
            throw new MigrationException($"the source copies {sizes.Count} disk(s) and the VM here has {disks.Count}");
        for (int i = 0; i < sizes.Count; i++)
            if (disks[i].SizeBytes != sizes[i])
                throw new MigrationException($"disk {i} is {sizes[i]} bytes at the source and {disks[i].SizeBytes} here");
        return disks;
    }

    /// <summary>Reads one further stream of a live migration into the VM the primary stream creates.</summary>
    public static Task ReadMemoryStreamAsync(SectionReader reader, Task<IMigratableVm> vmCreated, Func<int, Task> onRoundEnd, CancellationToken cancellationToken) =>
        ReadMemoryStreamAsync(reader, vmCreated, onRoundEnd, () => null, cancellationToken);

    /// <param name="diskSizes">The sizes of the disks the source copies (`--copy-storage`), once stream 0 announced them; null: none, and disk blocks are refused.</param>
    public static async Task ReadMemoryStreamAsync(SectionReader reader, Task<IMigratableVm> vmCreated, Func<int, Task> onRoundEnd,
        Func<IReadOnlyList<long>?> diskSizes, CancellationToken cancellationToken)
    {
        var frame = await reader.ReadFrameAsync(cancellationToken);
        var vm = await vmCreated.WaitAsync(cancellationToken);
        var loader = new PageLoader(vm, vm.Memory);
        IReadOnlyList<IMigratableDisk>? disks = null;
        for (; ; frame = await reader.ReadFrameAsync(cancellationToken))
        {
            if (PageLoader.Handles(frame.Type))
            {
                await loader.LoadAsync(reader, frame, cancellationToken);
                continue;
            }
            var (type, payload) = (frame.Type, await reader.ReadPayloadAsync(cancellationToken));
            if (type == SectionType.End) break;
            if (type == SectionType.DiskBlocks && diskSizes() is { } sizes)
            {
                disks ??= CopiedDisks(vm, sizes);
                Storage.DiskBlocks.Apply(payload.Span, disks, sizes);
            }
            else if (type == SectionType.RoundEnd && payload.Length == 4)
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
public sealed record ReceivedImage(IMigratableVm Vm, byte[] DeviceState, ulong? MemoryDigest, IReadOnlyList<PageSet>? PostCopyPages)
{
    /// <summary>`--copy-storage`: the disks the source's blocks were written into (null: storage is shared).</summary>
    public IReadOnlyList<IMigratableDisk>? Disks { get; init; }
    /// <summary>The copied disks' sizes as the source announced them.</summary>
    public IReadOnlyList<long>? DiskSizes { get; init; }
    /// <summary>`--copy-storage` post-copy: per disk, the blocks still at the source (fetched after the resume); null when every block came before.</summary>
    public ulong[][]? PostCopyDiskBlocks { get; init; }
    /// <summary>Bytes of disk written from DiskBlocks sections.</summary>
    public long DiskBytes { get; init; }
}
