using System.Text.Json;
using Ferry.Cli;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Pages;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;
using Ferry.Vmm;
using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;
using Ferry.Vmm.State;
using Ferry.Api;

namespace Ferry.Fuzz;

/// <summary>One parser of outside bytes, run on one input; it returns, or throws a clean refusal (<see cref="Refusals"/>).</summary>
public sealed record FuzzTarget(string Name, string Takes, Action<byte[]> Run);

/// <summary>
/// Every parser that takes bytes from outside Ferry: a migration peer, a snapshot file, a
/// control-API client or the command line. The same targets serve the bounded run in the
/// suite and the coverage-guided campaign.
/// </summary>
public static class FuzzTargets
{
    private static readonly Lazy<HostStateLimits?> Host = new(() =>
    {
        if (!File.Exists("/dev/kvm")) return null;
        using var kvm = Ferry.Kvm.Kvm.Open();
        return HostStateLimits.Of(kvm);
    });

    /// <summary>This host's KVM limits for the state decoder; null without /dev/kvm (the vm-state target then cannot run).</summary>
    public static HostStateLimits? HostLimits => Host.Value;

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("sections", "a stream of sections: frames, checksums, the End count and hash", SectionStream),
        new("image", "a snapshot file or a migration's primary stream, read into a VM", Image),
        new("live-stream", "a live migration's primary stream, rounds and switchover sections included", LiveStream),
        new("memory-stream", "a further stream of a live migration: memory sections and round ends", MemoryStream),
        new("vm-state", "a device state section, decoded and checked against this host's KVM", VmStateSection),
        new("configuration", "a configuration section (JSON), held to the VM limits", Configuration),
        new("post-copy-pages", "the post-copy pages bitmap", PostCopyPagesSection),
        new("control", "control messages on a migration stream", Control),
        new("handshake", "what a destination reads from a source during the handshake", HandshakeAsDestination),
        new("http", "a control-API request: HTTP and its JSON body, validated as the API server does", HttpRequest),
        new("cli-values", "names, sizes, rates and durations as typed on the command line", CliValues),
    ];

    public static FuzzTarget Named(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"no fuzz target {name} (targets: {string.Join(", ", All.Select(t => t.Name))})");

    private static readonly GuestMemoryLayout SmallLayout = new([new MemoryRegion(0, 64UL << 20)], 4096);

    private static void Wait(Task task) => task.GetAwaiter().GetResult();
    private static T Wait<T>(Task<T> task) => task.GetAwaiter().GetResult();
    private static T Wait<T>(ValueTask<T> task) => task.AsTask().GetAwaiter().GetResult();

    private static void SectionStream(byte[] input)
    {
        var reader = new SectionReader(new MemoryStream(input));
        while (Wait(reader.ReadAsync(default)).Type != SectionType.End) { }
    }

    private static IMigratableVm CreateVm(ReadOnlyMemory<byte> configuration)
    {
        var config = VmConfigJson.Decode(configuration.Span);
        config.ValidateShape(hostMemoryBytes: 1UL << 36);
        return new FuzzVm(config, HostLimits);
    }

    private static void Image(byte[] input) =>
        Wait(VmImageReader.ReadAsync(new SectionReader(new MemoryStream(input)), CreateVm, null, default));

    private static void LiveStream(byte[] input)
    {
        var image = Wait(VmImageReader.ReadPrimaryAsync(new SectionReader(new MemoryStream(input)), CreateVm, _ => { }, null,
            _ => Task.CompletedTask, default));
        image.Vm.LoadState(image.DeviceState);
    }

    private static void MemoryStream(byte[] input)
    {
        var vm = new FuzzVm(new VmConfig("fuzz", "/k", null, 64UL << 20, 1, ""), null);
        Wait(VmImageReader.ReadMemoryStreamAsync(new SectionReader(new MemoryStream(input)), Task.FromResult<IMigratableVm>(vm), _ => Task.CompletedTask, default));
    }

    private static void VmStateSection(byte[] input)
    {
        if (HostLimits is not { } host) throw new InvalidOperationException("the vm-state target needs /dev/kvm (this host's KVM limits)");
        VmState.Decode(input, 1, host);
    }

    private static void Configuration(byte[] input) => VmConfigJson.Decode(input).ValidateShape(1UL << 36);

    private static void PostCopyPagesSection(byte[] input) => PostCopyPages.Decode(input, SmallLayout);

    private static void Control(byte[] input)
    {
        var channel = new ControlChannel(new MemoryStream(input), Stream.Null);
        for (int i = 0; i < 64; i++) Wait(channel.ReceiveAsync(TimeSpan.FromSeconds(5), "a message", default));
    }

    private static void HandshakeAsDestination(byte[] input) =>
        Wait(Handshake.AuthenticateAsDestinationAsync(new ControlChannel(new MemoryStream(input), Stream.Null), "token"u8.ToArray(), default));

    private static void HttpRequest(byte[] input)
    {
        var request = Wait(HttpMessage.ReadAsync(new MemoryStream(input), default));
        if (request is not { } r) return; // refused as malformed: the server answers 400
        var parts = r.StartLine.Split(' ');
        if (parts.Length < 2 || r.Body.Length == 0) return;
        switch (parts[1])
        {
            case "/vm/migrate":
                if (Body(r.Body, ApiJson.Default.MigrateRequest) is { } migrate) MigrationPlan.From(migrate);
                break;
            case "/vm/snapshot": Body(r.Body, ApiJson.Default.SnapshotRequest); break;
            case "/vm/resume": Body(r.Body, ApiJson.Default.ResumeRequest); break;
            case "/vm/migrate/recover": Body(r.Body, ApiJson.Default.RecoverRequest); break;
        }
    }

    /// <summary>A request body as ApiServer decodes it: bad JSON becomes a 400 whose message says where, never what.</summary>
    private static T? Body<T>(byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try { return JsonSerializer.Deserialize(body, type); }
        catch (JsonException e) { throw new InvalidDataException($"malformed request body: {VmConfigJson.Where(e)}"); }
    }

    private static void CliValues(byte[] input)
    {
        string text = System.Text.Encoding.UTF8.GetString(input);
        if (VmName.IsValid(text) && text.IndexOfAny(['/', '\n', '\0']) >= 0) throw new InvalidOperationException($"the name rule let {VmName.Printable(text)} through");
        SizeParser.TryParse(text, out _);
        RateParser.TryParseBitsPerSecond(text, out _);
        RateParser.TryParseDuration(text, out _);
    }
}
