using System.Buffers.Binary;
using Ferry.Migration.Format;
using Ferry.Migration.Pages;
using Ferry.Migration.Tests.Infrastructure;

namespace Ferry.Migration.Tests.Pages;

/// <summary>Pages to sections and back, and the hostile sections a loader must refuse before writing anything.</summary>
public sealed class PageLoaderTests
{
    private const ulong Size = 4 << 20;

    private static byte[] Run(ulong gpa, uint pages, int dataBytes)
    {
        var b = new byte[16 + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(b, gpa);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), pages);
        b.AsSpan(16).Fill(0xAB);
        return b;
    }

    [Theory]
    [InlineData(Size, 1u)]              // starts past the end of RAM
    [InlineData(Size - 4096, 2u)]       // ends past the end of RAM
    [InlineData(100UL, 1u)]             // not page aligned
    [InlineData(0UL, 0u)]               // an empty run
    public void A_memory_run_outside_ram_is_refused(ulong gpa, uint pages)
    {
        using var vm = new SimulatedVm(Size);
        var loader = new PageLoader(vm, vm.Memory);
        Assert.Throws<ProtocolException>(() => loader.Load(SectionType.Memory, Run(gpa, pages, (int)Math.Max(1, pages) * 4096)));
        Assert.DoesNotContain((byte)0xAB, vm.Bytes);
    }

    [Theory]
    [InlineData(Size, 1u)]
    [InlineData(Size - 4096, 2u)]
    [InlineData(100UL, 1u)]
    [InlineData(0UL, 0u)]
    [InlineData(0UL, 3u)]               // longer than its section
    public async Task A_run_received_in_place_outside_ram_or_its_section_is_refused_before_a_byte_of_it_is_read(ulong gpa, uint pages)
    {
        using var vm = new SimulatedVm(Size);
        var stream = await FramedAsync(SectionType.Memory, Run(gpa, pages, (int)Math.Clamp(pages, 1, 2) * 4096));
        var reader = new SectionReader(stream);
        var frame = await reader.ReadFrameAsync(default);
        await Assert.ThrowsAsync<ProtocolException>(() => new PageLoader(vm, vm.Memory).ReceiveAsync(reader, frame, default).AsTask());
        Assert.DoesNotContain((byte)0xAB, vm.Bytes);
    }

    [Fact]
    public async Task A_corrupted_section_received_in_place_is_refused_at_its_end()
    {
        using var vm = new SimulatedVm(Size);
        var stream = await FramedAsync(SectionType.Memory, Run(0, 2, 2 * 4096));
        stream.GetBuffer()[SectionWriter.FrameHeaderSize + 16 + 5000] ^= 1;
        var reader = new SectionReader(stream);
        var frame = await reader.ReadFrameAsync(default);
        var e = await Assert.ThrowsAsync<ProtocolException>(() => new PageLoader(vm, vm.Memory).ReceiveAsync(reader, frame, default).AsTask());
        Assert.Contains("checksum mismatch", e.Message);
    }

    private static async Task<MemoryStream> FramedAsync(SectionType type, byte[] payload)
    {
        var stream = new MemoryStream();
        await new SectionWriter(stream).WriteAsync(type, payload, default);
        stream.Position = 0;
        return stream;
    }

    [Fact]
    public void A_run_longer_than_its_section_is_refused()
    {
        using var vm = new SimulatedVm(Size);
        Assert.Throws<ProtocolException>(() => new PageLoader(vm, vm.Memory).Load(SectionType.Memory, Run(0, 3, 2 * 4096)));
    }

    [Fact]
    public void Malformed_zero_runs_and_compressed_sections_are_refused()
    {
        using var vm = new SimulatedVm(Size);
        var loader = new PageLoader(vm, vm.Memory);
        Assert.Throws<ProtocolException>(() => loader.Load(SectionType.ZeroPages, new byte[17]));
        Assert.Throws<ProtocolException>(() => loader.Load(SectionType.ZeroPages, Run(Size, 1, 0)));
        var huge = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(huge, uint.MaxValue); // claims 4 GiB: refused before any allocation
        Assert.Throws<ProtocolException>(() => loader.Load(SectionType.CompressedMemory, huge));
        var garbage = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(garbage, 8192);
        new Random(1).NextBytes(garbage.AsSpan(4));
        Assert.Throws<ProtocolException>(() => loader.Load(SectionType.CompressedMemory, garbage));
        Assert.Throws<ProtocolException>(() => loader.Load(SectionType.DeviceState, []));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Pages_written_with_zero_runs_and_lz4_load_back_exactly(bool compress)
    {
        using var source = new SimulatedVm(Size).Fill(seed: 9, pages: 600, zeroEvery: 3);
        using var destination = new SimulatedVm(Size);
        destination.WriteGuest(0, Enumerable.Repeat((byte)0x5A, (int)Size).ToArray()); // stale contents everywhere
        var stream = new MemoryStream();
        var writer = new PageWriter(source, new SectionWriter(stream), new PageWriterOptions(SendZeroPages: true, Compress: compress));
        for (ulong gpa = 0; gpa < Size; gpa += 4096) await writer.AddAsync(gpa, default);
        await writer.FlushAsync(default);

        stream.Position = 0;
        var reader = new SectionReader(stream);
        var loader = new PageLoader(destination, destination.Memory);
        long covered = 0;
        while (stream.Position < stream.Length)
        {
            // As a destination does: plain memory received in place, the rest through a buffer.
            covered += await loader.LoadAsync(reader, await reader.ReadFrameAsync(default), default);
        }
        Assert.Equal((long)Size, covered);
        Assert.Equal(source.Bytes, destination.Bytes);
        Assert.True(writer.ZeroPages > 0 && writer.PagesSent > 0);
    }
}
