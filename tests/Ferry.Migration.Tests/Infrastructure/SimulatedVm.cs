using System.Text;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Infrastructure;

/// <summary>
/// A VM without KVM: memory in an array, pages "resident" once written, a state blob, a
/// pause flag. A seeded writer fills pages so a test can compare destination with source.
/// </summary>
public sealed class SimulatedVm : IMigratableVm, IDisposable
{
    public const int PageSize = 4096;
    private readonly byte[] _memory;
    private readonly bool[] _resident;
    private byte[] _state;

    public SimulatedVm(ulong sizeBytes, string configuration = "sim", byte[]? state = null)
    {
        _memory = new byte[sizeBytes];
        _resident = new bool[sizeBytes / PageSize];
        Memory = new GuestMemoryLayout([new MemoryRegion(0, sizeBytes)], PageSize);
        Configuration = Encoding.UTF8.GetBytes(configuration);
        _state = state ?? [1, 2, 3];
    }

    public ReadOnlyMemory<byte> Configuration { get; }
    public GuestMemoryLayout Memory { get; }
    public bool Paused { get; private set; }
    public int Resumes { get; private set; }
    public bool Disposed { get; private set; }
    public byte[]? LoadedState { get; private set; }
    public byte[] Bytes => _memory;

    /// <summary>Fills <paramref name="pages"/> pages with seeded random bytes; every <paramref name="zeroEvery"/>-th is written as zeros.</summary>
    public SimulatedVm Fill(int seed, int pages, int zeroEvery = 0)
    {
        var random = new Random(seed);
        for (int i = 0; i < pages; i++)
        {
            long page = random.NextInt64(_resident.Length);
            var span = _memory.AsSpan((int)(page * PageSize), PageSize);
            if (zeroEvery > 0 && i % zeroEvery == 0) span.Clear();
            else random.NextBytes(span);
            _resident[page] = true;
        }
        return this;
    }

    public void ReadGuest(ulong gpa, Span<byte> destination) => _memory.AsSpan((int)gpa, destination.Length).CopyTo(destination);

    public void WriteGuest(ulong gpa, ReadOnlySpan<byte> source)
    {
        source.CopyTo(_memory.AsSpan((int)gpa));
        for (ulong p = gpa / PageSize; p < (gpa + (ulong)source.Length + PageSize - 1) / PageSize; p++) _resident[p] = true;
    }

    public IDirtyLog StartDirtyLog() => throw new NotSupportedException("cold migration needs no dirty log");

    public PageSet ResidentPages(MemoryRegion region)
    {
        var set = new PageSet(region, PageSize);
        for (long p = 0; p < set.PageCount; p++) if (_resident[p]) set.Add(p);
        return set;
    }

    public Task PauseAsync(CancellationToken cancellationToken) { Paused = true; return Task.CompletedTask; }

    public Task ResumeAsync(CancellationToken cancellationToken) { Paused = false; Resumes++; return Task.CompletedTask; }

    public byte[] SaveState() => Paused ? _state : throw new InvalidOperationException("not paused");

    public void LoadState(ReadOnlySpan<byte> state) { LoadedState = state.ToArray(); _state = LoadedState; }

    public void Dispose() => Disposed = true;
}
