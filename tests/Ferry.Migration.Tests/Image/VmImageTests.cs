using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Image;

public sealed class VmImageTests
{
    private const ulong Size = 16 << 20;

    private static async Task<(byte[] Image, ImageStatistics Stats)> WriteAsync(SimulatedVm vm)
    {
        await vm.PauseAsync(default);
        var stream = new MemoryStream();
        var stats = await VmImageWriter.WriteAsync(vm, new SectionWriter(stream), null, default);
        return (stream.ToArray(), stats);
    }

    private static Task<IMigratableVm> ReadAsync(byte[] image, List<SimulatedVm>? created = null) =>
        VmImageReader.ReadAsync(new SectionReader(new MemoryStream(image)), config =>
        {
            var vm = new SimulatedVm(Size, System.Text.Encoding.UTF8.GetString(config.Span));
            created?.Add(vm);
            return vm;
        }, null, default);

    [Fact]
    public async Task An_image_restores_the_same_memory_and_state()
    {
        var source = new SimulatedVm(Size, state: [9, 8, 7]).Fill(seed: 1, pages: 1500, zeroEvery: 10);
        var (image, stats) = await WriteAsync(source);
        var restored = (SimulatedVm)await ReadAsync(image);
        Assert.Equal(source.Bytes, restored.Bytes);
        Assert.Equal([9, 8, 7], restored.LoadedState);
        Assert.True(stats.ZeroPagesSkipped > 0);
        Assert.True(stats.UntouchedPagesSkipped > 2000);
    }

    [Fact]
    public async Task Zero_and_untouched_pages_take_no_space()
    {
        var (image, stats) = await WriteAsync(new SimulatedVm(Size).Fill(seed: 2, pages: 100, zeroEvery: 1));
        Assert.Equal(0, stats.PagesSent);
        Assert.True(image.Length < 4096, $"an all-zero guest made a {image.Length}-byte image");
    }

    [Fact]
    public async Task Truncation_anywhere_is_refused_and_the_new_vm_is_discarded()
    {
        var (image, _) = await WriteAsync(new SimulatedVm(Size).Fill(seed: 3, pages: 300));
        for (int cut = 0; cut < image.Length; cut += Math.Max(1, image.Length / 97))
        {
            var created = new List<SimulatedVm>();
            var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadAsync(image[..cut], created));
            Assert.Matches("truncated|not a Ferry", e.Message);
            Assert.All(created, vm => Assert.True(vm.Disposed));
        }
    }

    [Fact]
    public async Task A_flipped_byte_in_any_section_is_refused_naming_the_section()
    {
        var (image, _) = await WriteAsync(new SimulatedVm(Size).Fill(seed: 4, pages: 3000));
        var seen = new List<string>();
        for (int at = 0; at < image.Length; )
        {
            var type = (SectionType)BitConverter.ToUInt32(image, at);
            long length = BitConverter.ToInt64(image, at + 8);
            var bad = (byte[])image.Clone();
            bad[at + 16 + length / 2] ^= 0x40; // the middle of the payload
            var created = new List<SimulatedVm>();
            var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadAsync(bad, created));
            Assert.Contains($"({SectionNames.Of(type)}) is corrupted", e.Message);
            Assert.All(created, vm => Assert.True(vm.Disposed));
            seen.Add(SectionNames.Of(type));
            at += 16 + (int)length + 8;
        }
        Assert.Equal(["header", "configuration", "device state"], seen.Take(3));
        Assert.Equal("end", seen[^1]);
        Assert.True(seen.Count(n => n == "memory") > 1);
    }

    [Fact]
    public async Task A_memory_run_outside_guest_ram_is_refused()
    {
        // A well-formed section whose run points past the end of RAM: hostile, not corrupted.
        var stream = new MemoryStream();
        var w = new SectionWriter(stream);
        var layout = new GuestMemoryLayout([new MemoryRegion(0, Size)], 4096);
        await w.WriteAsync(SectionType.Header, ImageHeader.Encode(layout), default);
        await w.WriteAsync(SectionType.Configuration, "sim"u8.ToArray(), default);
        await w.WriteAsync(SectionType.DeviceState, new byte[] { 1 }, default);
        var run = new byte[16 + 4096];
        BitConverter.TryWriteBytes(run.AsSpan(0), Size);
        BitConverter.TryWriteBytes(run.AsSpan(8), 1u);
        await w.WriteAsync(SectionType.Memory, run, default);
        await w.WriteEndAsync(default);
        var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadAsync(stream.ToArray()));
        Assert.Contains("invalid run", e.Message);
    }

    [Fact]
    public async Task Something_that_is_not_an_image_is_refused()
    {
        var e = await Assert.ThrowsAsync<ProtocolException>(() => ReadAsync(System.Text.Encoding.ASCII.GetBytes(new string('x', 5000))));
        Assert.Contains("corrupted", e.Message);
    }
}
