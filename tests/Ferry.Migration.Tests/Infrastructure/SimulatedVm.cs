using System.Collections.Concurrent;
using System.Text;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Infrastructure;

/// <summary>
/// A VM without KVM: memory in an array, pages "resident" once written, a state blob, a
/// pause flag, a dirty log and an optional guest workload that keeps writing seeded random
/// pages until paused, so a test can check that the destination's bytes equal the source's.
/// As a post-copy destination it models missing pages: once armed, a guest or VMM access to a
/// page not present blocks until the engine installs it, as userfaultfd does.
/// </summary>
public sealed class SimulatedVm : IMigratableVm, IPostCopyTarget, IMigratableDisks, IDisposable
{
    public const int PageSize = 4096;
    private readonly byte[] _memory;
    private readonly bool[] _resident;
    private readonly object _guestLock = new();   // held while the "guest" writes a page
    private ulong[]? _dirty;
    private byte[] _state;
    private CancellationTokenSource? _workload;
    private Task? _workloadTask;
    private bool _maxRateWorkload;
    private long _writtenAtCollect;

    public SimulatedVm(ulong sizeBytes, string configuration = "sim", byte[]? state = null, long[]? diskSizes = null)
    {
        SimDisks = [.. (diskSizes ?? []).Select(size => new SimulatedDisk(size))];
        _memory = new byte[sizeBytes];
        _resident = new bool[sizeBytes / PageSize];
        Memory = new GuestMemoryLayout([new MemoryRegion(0, sizeBytes)], PageSize);
        Configuration = Encoding.UTF8.GetBytes(configuration);
        _state = state ?? [1, 2, 3];
    }

    public ReadOnlyMemory<byte> Configuration { get; }
    public IReadOnlyList<SimulatedDisk> SimDisks { get; }
    IReadOnlyList<IMigratableDisk> IMigratableDisks.Disks => SimDisks;
    public long DiskWritesByGuest;
    public GuestMemoryLayout Memory { get; }
    public bool Paused { get; private set; }
    public int Resumes { get; private set; }
    public bool Disposed { get; private set; }
    public byte[]? LoadedState { get; private set; }
    public byte[] Bytes => _memory;
    public bool DirtyLogActive => _dirty is not null;
    public List<int> ThrottleHistory { get; } = [];
    /// <summary>Runs once the VM is paused: lets a test act at the start of the stop-and-copy.</summary>
    public Action? OnPaused { get; set; }
    public long PagesWrittenByGuest;

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

    /// <summary>
    /// Starts a guest that writes <paramref name="pagesPerSecond"/> pages a second (0: as fast as it
    /// can) within the first <paramref name="workingSetPages"/> pages until the VM pauses; every
    /// <paramref name="zeroEvery"/>-th write clears the page. Throttling slows it as on a real VM.
    /// </summary>
    public SimulatedVm StartWorkload(int seed, int workingSetPages, int pagesPerSecond, int zeroEvery = 0)
    {
        _workload = new CancellationTokenSource();
        _maxRateWorkload = pagesPerSecond == 0;
        var stop = _workload.Token;
        // Its own thread: a guest at full speed never yields, and on the thread pool it would
        // starve the other tests' async work (the pool adds threads slowly on a 2-core machine).
        _workloadTask = Task.Factory.StartNew(async () =>
        {
            var random = new Random(seed);
            var buffer = new byte[PageSize];
            long i = 0;
            while (!stop.IsCancellationRequested)
            {
                int throttle = ThrottleHistory.Count > 0 ? ThrottleHistory[^1] : 0;
                int batch = pagesPerSecond == 0 ? 64 : Math.Max(1, pagesPerSecond / 1000);
                for (int b = 0; b < batch * (100 - throttle) / 100 + 1; b++)
                {
                    long page = random.NextInt64(workingSetPages);
                    if (zeroEvery > 0 && ++i % zeroEvery == 0) Array.Clear(buffer);
                    else random.NextBytes(buffer);
                    GuestWrite(page, buffer);
                }
                if (pagesPerSecond > 0) await Task.Delay(1, stop).ContinueWith(_ => { });
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        return this;
    }

    /// <summary>A guest write: blocked while paused; logged after the bytes land, as KVM's write-protect faults do.</summary>
    private void GuestWrite(long page, byte[] bytes)
    {
        lock (_guestLock)
        {
            while (Paused && _workload is { IsCancellationRequested: false }) Monitor.Wait(_guestLock);
            if (Paused) return; // stopped while paused: a paused guest writes nothing
            bytes.CopyTo(_memory.AsSpan((int)(page * PageSize), PageSize));
            _resident[page] = true;
            if (_dirty is { } dirty) Interlocked.Or(ref dirty[page >> 6], 1UL << (int)(page & 63));
            PagesWrittenByGuest++;
        }
    }

    public void StopWorkload()
    {
        _workload?.Cancel();
        _diskWorkload?.Cancel();
        lock (_guestLock) Monitor.PulseAll(_guestLock);
        _workloadTask?.Wait();
        _diskWorkloadTask?.Wait();
    }

    private CancellationTokenSource? _diskWorkload;
    private Task? _diskWorkloadTask;

    /// <summary>
    /// Starts a guest that writes <paramref name="writesPerMillisecond"/> seeded 4 KiB pieces a
    /// millisecond at random places on disk 0 until the VM pauses (a paused guest writes nothing);
    /// every <paramref name="zeroEvery"/>-th write clears its piece.
    /// </summary>
    public SimulatedVm StartDiskWorkload(int seed, int writesPerMillisecond, int zeroEvery = 0)
    {
        _diskWorkload = new CancellationTokenSource();
        var stop = _diskWorkload.Token;
        var disk = SimDisks[0];
        _diskWorkloadTask = Task.Factory.StartNew(() =>
        {
            var random = new Random(seed);
            var buffer = new byte[4096];
            long i = 0;
            while (!stop.IsCancellationRequested)
            {
                for (int w = 0; w < writesPerMillisecond; w++)
                {
                    long piece = random.NextInt64(disk.SizeBytes / buffer.Length);
                    if (zeroEvery > 0 && ++i % zeroEvery == 0) Array.Clear(buffer);
                    else random.NextBytes(buffer);
                    lock (_guestLock)
                    {
                        while (Paused && !stop.IsCancellationRequested) Monitor.Wait(_guestLock);
                        if (Paused) return;
                        // Under the guest's lock: once PauseAsync returns no write is in flight, as after a drain.
                        disk.GuestWrite(piece * buffer.Length, buffer);
                        DiskWritesByGuest++;
                    }
                }
                Thread.Sleep(1);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return this;
    }

    /// <summary>Fills disk <paramref name="disk"/> with <paramref name="pieces"/> seeded 4 KiB pieces (some zero).</summary>
    public SimulatedVm FillDisk(int disk, int seed, int pieces)
    {
        var random = new Random(seed);
        var buffer = new byte[4096];
        var d = SimDisks[disk];
        for (int i = 0; i < pieces; i++)
        {
            if (i % 9 == 0) Array.Clear(buffer); else random.NextBytes(buffer);
            d.Write(random.NextInt64(d.SizeBytes / buffer.Length) * buffer.Length, buffer);
        }
        return this;
    }

    public void ReadGuest(ulong gpa, Span<byte> destination)
    {
        WaitPresent(gpa, destination.Length);
        _memory.AsSpan((int)gpa, destination.Length).CopyTo(destination);
    }

    // --- post-copy: missing pages -------------------------------------------------------------

    private readonly object _presence = new();
    private bool[]? _missing;              // non-null while armed
    private MissingPages? _armed;
    public int FaultsRaised;

    public IMissingPages ArmMissingPages(IReadOnlyList<PageSet> fetch, bool dropStaleCopies)
    {
        lock (_presence)
        {
            _missing = new bool[_resident.Length];
            for (long p = 0; p < _resident.Length; p++) _missing[p] = !_resident[p];
            foreach (long p in dropStaleCopies ? fetch[0].Pages() : [])
            {
                _memory.AsSpan((int)(p * PageSize), PageSize).Clear(); // the stale copy goes
                _resident[p] = false;
                _missing[p] = true;
            }
            return _armed = new MissingPages(this);
        }
    }

    /// <summary>Blocks while any page of the range is missing, raising a fault for each as a vCPU would.</summary>
    private void WaitPresent(ulong gpa, int length)
    {
        if (_missing is null) return;
        for (ulong p = gpa / PageSize; p < (gpa + (ulong)length + PageSize - 1) / PageSize; p++)
        {
            lock (_presence)
            {
                if (_missing is not { } missing || !missing[p]) continue;
                Interlocked.Increment(ref FaultsRaised);
                _armed!.Raise(p * PageSize, Environment.CurrentManagedThreadId);
                while (_missing is { } m && m[p]) Monitor.Wait(_presence);
            }
        }
    }

    /// <summary>A guest thread that reads every page (a fault storm right after the switchover): the bytes it saw, page by page.</summary>
    public Task<byte[]> TouchAllAsync(int threads) => Task.Run(() =>
    {
        var seen = new byte[_memory.Length];
        var pages = _resident.Length;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            for (long p = t; p < pages; p += threads) ReadGuest((ulong)(p * PageSize), seen.AsSpan((int)(p * PageSize), PageSize));
        });
        return seen;
    });

    private sealed class MissingPages(SimulatedVm vm) : IMissingPages
    {
        private readonly BlockingCollection<(ulong Gpa, int Thread)> _faults = [];
        private readonly CancellationTokenSource _interrupted = new();

        public void Raise(ulong gpa, int thread)
        {
            try { _faults.Add((gpa, thread)); } catch (InvalidOperationException) { }
        }

        public bool WaitForFault(out ulong gpa, out int threadId)
        {
            try
            {
                (gpa, threadId) = _faults.Take(_interrupted.Token);
                return true;
            }
            catch (OperationCanceledException) { (gpa, threadId) = (0, 0); return false; }
        }

        public void Interrupt() => _interrupted.Cancel();

        public int Install(ulong gpa, ReadOnlySpan<byte> pages)
        {
            int installed = 0;
            lock (vm._presence)
            {
                for (int at = 0; at < pages.Length; at += PageSize)
                {
                    long p = (long)(gpa + (ulong)at) / PageSize;
                    if (vm._missing is not { } missing || !missing[p]) continue;
                    pages.Slice(at, PageSize).CopyTo(vm._memory.AsSpan((int)(p * PageSize), PageSize));
                    missing[p] = false;
                    vm._resident[p] = true;
                    installed++;
                }
                Monitor.PulseAll(vm._presence);
            }
            return installed;
        }

        public int InstallZero(ulong gpa, int pageCount) => Install(gpa, new byte[pageCount * PageSize]);

        public void Wake(ulong gpa)
        {
            lock (vm._presence) Monitor.PulseAll(vm._presence);
        }

        public string ThreadName(int threadId) => $"thread {threadId}";

        /// <summary>Disarmed: a page still missing reads as zero from now on, as fresh anonymous memory does.</summary>
        public void Dispose()
        {
            lock (vm._presence)
            {
                vm._missing = null;
                Monitor.PulseAll(vm._presence);
            }
            _interrupted.Cancel();
        }
    }

    public void WriteGuest(ulong gpa, ReadOnlySpan<byte> source)
    {
        source.CopyTo(_memory.AsSpan((int)gpa));
        for (ulong p = gpa / PageSize; p < (gpa + (ulong)source.Length + PageSize - 1) / PageSize; p++) _resident[p] = true;
    }

    public Memory<byte> GuestRam(ulong gpa, int length, bool toFill)
    {
        if (!toFill) WaitPresent(gpa, length);
        if (toFill)
            for (ulong p = gpa / PageSize; p < (gpa + (ulong)length + PageSize - 1) / PageSize; p++) _resident[p] = true;
        return _memory.AsMemory(checked((int)gpa), length);
    }

    public IDirtyLog StartDirtyLog()
    {
        _dirty = new ulong[(_resident.Length + 63) / 64];
        return new DirtyLog(this);
    }

    private sealed class DirtyLog(SimulatedVm vm) : IDirtyLog
    {
        public IReadOnlyList<PageSet> Collect()
        {
            var dirty = vm._dirty ?? throw new ObjectDisposedException(nameof(DirtyLog));
            // A guest writing as fast as it can always dirties something between two collections;
            // on a busy test machine its thread may not have run since the last one, and a quiet
            // round would end the migration early: wait for its next write instead.
            if (vm._maxRateWorkload)
                SpinWait.SpinUntil(() => Interlocked.Read(ref vm.PagesWrittenByGuest) != vm._writtenAtCollect || vm.Paused || vm._workload!.IsCancellationRequested, 2000);
            var set = new PageSet(vm.Memory.Regions[0], PageSize);
            // Under the guest's lock, so the count and the bits agree: a write counted after this
            // collection has its bit in the next one (else the wait above could pass on a write
            // whose bit this collection already took, and the next round would look quiet).
            lock (vm._guestLock)
            {
                for (int w = 0; w < dirty.Length; w++) set.Bits[w] = Interlocked.Exchange(ref dirty[w], 0);
                vm._writtenAtCollect = vm.PagesWrittenByGuest;
            }
            return [set];
        }

        public void Dispose() => vm._dirty = null;
    }

    public PageSet ResidentPages(MemoryRegion region)
    {
        var set = new PageSet(region, PageSize);
        for (long p = 0; p < set.PageCount; p++) if (_resident[p]) set.Add(p);
        return set;
    }

    public void SetThrottle(int percent)
    {
        if (ThrottleHistory.Count == 0 || ThrottleHistory[^1] != percent) ThrottleHistory.Add(percent);
    }

    public Task PauseAsync(CancellationToken cancellationToken)
    {
        lock (_guestLock) Paused = true;
        OnPaused?.Invoke();
        return Task.CompletedTask;
    }

    /// <summary>Set to make the next resume fail (as a VMM whose disk cannot be locked again would).</summary>
    public Exception? ResumeFails { get; set; }

    public Task ResumeAsync(CancellationToken cancellationToken)
    {
        if (ResumeFails is { } e) throw e;
        lock (_guestLock)
        {
            Paused = false;
            Resumes++;
            Monitor.PulseAll(_guestLock);
        }
        return Task.CompletedTask;
    }

    public byte[] SaveState() => Paused ? _state : throw new InvalidOperationException("not paused");

    public void LoadState(ReadOnlySpan<byte> state) { LoadedState = state.ToArray(); _state = LoadedState; }

    public void Dispose()
    {
        Disposed = true;
        StopWorkload();
    }
}
