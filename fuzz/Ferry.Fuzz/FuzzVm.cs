using Ferry.Migration.Vm;
using Ferry.Vmm;
using Ferry.Vmm.Memory;
using Ferry.Vmm.State;

namespace Ferry.Fuzz;

/// <summary>
/// A VM that an image target reads into: the layout its configuration asks for (as KvmVm's),
/// RAM that swallows what is written (a fuzzer only needs the checks before each write), and a
/// state loader that runs the real decoder and checks against this host's KVM limits.
/// </summary>
public sealed class FuzzVm(VmConfig config, HostStateLimits? host) : IMigratableVm
{
    private readonly GuestMemoryMap _map = new(config.MemoryBytes);
    private byte[] _scratch = [];

    public GuestMemoryLayout Memory => new(_map.Regions, 4096);
    public ReadOnlyMemory<byte> Configuration => VmConfigJson.Encode(config);
    public long BytesWritten { get; private set; }

    public void ReadGuest(ulong gpa, Span<byte> destination) => destination.Clear();
    public void WriteGuest(ulong gpa, ReadOnlySpan<byte> source) => BytesWritten += source.Length;

    public Memory<byte> GuestRam(ulong gpa, int length, bool toFill)
    {
        if (_scratch.Length < length) _scratch = new byte[length];
        BytesWritten += length;
        return _scratch.AsMemory(0, length);
    }

    public void LoadState(ReadOnlySpan<byte> state)
    {
        if (host is not null) VmState.Decode(state, config.CpuCount, host);
    }

    public byte[] SaveState() => throw new NotSupportedException();
    public IDirtyLog StartDirtyLog() => throw new NotSupportedException();
    public PageSet ResidentPages(MemoryRegion region) => throw new NotSupportedException();
    public void SetThrottle(int percent) { }
    public Task PauseAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task ResumeAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
