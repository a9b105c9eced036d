using System.Buffers.Binary;
using System.Diagnostics;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Tests.Infrastructure;
using Ferry.Migration.Vm;
using Ferry.Tests.Shared;

namespace Ferry.Migration.Tests.Image;

/// <summary>
/// Images whose sections were altered and their checksums computed again (what a hostile
/// authenticated peer or a tool that rewrites snapshots produces): only the reader's own rules
/// stand between them and a VM. Each is refused, naming the section, and the new VM discarded.
/// </summary>
public sealed class HostileImageTests
{
    private const ulong Size = 16 << 20;

    private static async Task<ImageSections> SnapshotAsync()
    {
        var vm = new SimulatedVm(Size, state: [1, 2, 3]).Fill(seed: 5, pages: 600, zeroEvery: 7);
        await vm.PauseAsync(default);
        var stream = new MemoryStream();
        await VmImageWriter.WriteAsync(vm, new SectionWriter(stream), null, default);
        return ImageSections.Parse(stream.ToArray());
    }

    private static async Task<ProtocolException> RefusedAsync(ImageSections image)
    {
        var created = new List<SimulatedVm>();
        var e = await Assert.ThrowsAsync<ProtocolException>(() => VmImageReader.ReadAsync(new SectionReader(new MemoryStream(image.Write())), config =>
        {
            var vm = new SimulatedVm(Size, System.Text.Encoding.UTF8.GetString(config.Span));
            created.Add(vm);
            return vm;
        }, null, default));
        Assert.All(created, vm => Assert.True(vm.Disposed));
        Assert.All(created, vm => Assert.Null(vm.LoadedState));
        return e;
    }

    [Fact]
    public async Task A_memory_section_repeated_200_times_is_refused()
    {
        var image = await SnapshotAsync();
        var memory = image.Sections.First(s => s.Type == SectionType.Memory);
        for (int i = 0; i < 200; i++) image.Sections.Insert(image.Sections.Count, memory);
        var e = await RefusedAsync(image);
        Assert.Contains("a second time in one round", e.Message);
    }

    [Fact]
    public async Task Zero_runs_claiming_all_of_ram_4096_times_over_are_refused_at_once()
    {
        var image = await SnapshotAsync();
        // 64 KiB of 16-byte runs, each the whole of RAM: 1 TiB of zeroing for 64 KiB of stream.
        var runs = new byte[64 << 10];
        for (int at = 0; at < runs.Length; at += 16)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(runs.AsSpan(at), 0);
            BinaryPrimitives.WriteUInt32LittleEndian(runs.AsSpan(at + 8), (uint)(Size / SimulatedVm.PageSize));
        }
        image.Sections.Insert(3, (SectionType.ZeroPages, runs));
        var clock = Stopwatch.StartNew();
        var e = await RefusedAsync(image);
        Assert.Contains("zero-pages section sends page 0x0 a second time", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "refusing took as long as doing the work"); // a bound, not a benchmark
    }

    [Fact]
    public async Task Overlapping_runs_in_one_section_are_refused()
    {
        var image = await SnapshotAsync();
        var runs = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(runs, 0x10000);
        BinaryPrimitives.WriteUInt32LittleEndian(runs.AsSpan(8), 8);
        BinaryPrimitives.WriteUInt64LittleEndian(runs.AsSpan(16), 0x13000);
        BinaryPrimitives.WriteUInt32LittleEndian(runs.AsSpan(24), 1);
        image.Sections.Insert(3, (SectionType.ZeroPages, runs));
        Assert.Contains("sends page 0x13000 a second time", (await RefusedAsync(image)).Message);
    }

    [Theory]
    [InlineData(SectionType.DeviceState, "a second device state")]
    [InlineData(SectionType.Header, "unexpected header section")]
    [InlineData(SectionType.Configuration, "unexpected configuration section")]
    public async Task A_section_sent_twice_is_refused(SectionType type, string expected)
    {
        var image = await SnapshotAsync();
        var copy = image.Sections.First(s => s.Type == type);
        image.Sections.Add(copy);
        Assert.Contains(expected, (await RefusedAsync(image)).Message);
    }

    [Fact]
    public async Task A_round_end_in_a_snapshot_is_refused()
    {
        var image = await SnapshotAsync();
        image.Sections.Insert(4, (SectionType.RoundEnd, new byte[4]));
        Assert.Contains("unexpected round end section", (await RefusedAsync(image)).Message);
    }

    [Fact]
    public async Task A_memory_digest_after_the_device_state_is_refused()
    {
        var image = await SnapshotAsync();
        image.Sections.Add((SectionType.MemoryDigest, new byte[8]));
        Assert.Contains("a memory digest after the device state", (await RefusedAsync(image)).Message);
    }

    [Fact]
    public async Task An_unknown_section_is_refused_by_its_number()
    {
        var image = await SnapshotAsync();
        image.Sections.Insert(3, ((SectionType)77, [1, 2, 3]));
        Assert.Contains("unknown section 77", (await RefusedAsync(image)).Message);
    }

    [Fact]
    public async Task Memory_after_the_state_of_a_live_migration_is_refused()
    {
        // A live stream: memory, then the state last; memory after it is out of order.
        var image = await SnapshotAsync();
        var state = image.Sections.First(s => s.Type == SectionType.DeviceState);
        image.Sections.Remove(state);
        var memory = image.Sections.First(s => s.Type == SectionType.Memory);
        image.Sections.Add(state);
        image.Sections.Add(memory);
        var created = new List<SimulatedVm>();
        var e = await Assert.ThrowsAsync<ProtocolException>(() => VmImageReader.ReadPrimaryAsync(new SectionReader(new MemoryStream(image.Write())),
            config => { var vm = new SimulatedVm(Size); created.Add(vm); return vm; }, _ => { }, null, _ => Task.CompletedTask, default));
        Assert.Contains("guest memory after the switchover's sections", e.Message);
    }
}
