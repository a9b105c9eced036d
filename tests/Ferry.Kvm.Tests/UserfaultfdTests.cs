using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;

namespace Ferry.Kvm.Tests;

/// <summary>
/// userfaultfd on plain anonymous memory (no KVM needed): touches of missing pages block until
/// served, one install wakes every waiter, present pages are never overwritten. Every wait is
/// bounded; a thread left blocked on a fault (a failed test) is released by Dispose, which closes
/// the fd (waking it) and unmaps the memory only once every reader is out of it.
/// </summary>
public sealed class UserfaultfdTests : IDisposable
{
    private const int Page = HostMemory.PageSize;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly HostMemory _memory = HostMemory.MapAnonymous(16 * Page);
    private readonly Userfaultfd _uffd = Userfaultfd.Open();
    private readonly List<Task> _readers = [];

    public UserfaultfdTests() => _uffd.RegisterMissing(_memory.Address, _memory.SizeBytes);

    private static byte[] Filled(byte value, int pages = 1) => Enumerable.Repeat(value, pages * Page).ToArray();

    private nint PageAt(int page) => _memory.Address + page * Page;

    /// <summary>Reads on a thread of its own (it may block on a fault), tracked so that Dispose never unmaps under it.</summary>
    private Task<byte> Reader(Func<byte> read)
    {
        var task = Task.Factory.StartNew(read, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        lock (_readers) _readers.Add(task);
        return task;
    }

    private Task<byte> ReadByteAsync(int page) => Reader(() => Marshal.ReadByte(PageAt(page) + 7));

    /// <summary>A byte of registered memory, read on another thread: a page left missing by mistake fails the test instead of hanging it.</summary>
    private byte At(int page, int offset = 0)
    {
        var read = Reader(() => Marshal.ReadByte(PageAt(page) + offset));
        Assert.True(read.Wait(Patience), $"page {page} is still missing");
        return read.Result;
    }

    [Fact]
    public async Task A_touch_of_a_missing_page_blocks_until_it_is_served_and_sees_what_was_served()
    {
        var reading = ReadByteAsync(3);
        Assert.True(_uffd.WaitForFault(Patience, out nint address));
        Assert.Equal(PageAt(3), address); // the touch was at byte 7: the address is the page's
        Assert.False(reading.IsCompleted);
        Assert.Equal(Page, _uffd.Copy(address, Filled(0x5a)));
        Assert.Equal(0x5a, await reading.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_fault_names_the_thread_that_touched()
    {
        int reader = 0;
        var reading = Reader(() => { Volatile.Write(ref reader, LibC.GetTid()); return Marshal.ReadByte(PageAt(4)); });
        Assert.True(_uffd.WaitForFault(Patience, out nint address, out int thread));
        Assert.True(_uffd.ReportsThreadId);
        Assert.Equal(Volatile.Read(ref reader), thread);
        Assert.Equal(Page, _uffd.Copy(address, Filled(0x01)));
        Assert.Equal(0x01, await reading.WaitAsync(Patience));
    }

    [Fact]
    public async Task One_copy_wakes_every_thread_waiting_on_the_page()
    {
        var readers = Enumerable.Range(0, 4).Select(_ => ReadByteAsync(5)).ToList();
        Assert.True(_uffd.WaitForFault(Patience, out nint address));
        Assert.Equal(Page, _uffd.Copy(address, Filled(0x11)));
        var seen = await Task.WhenAll(readers).WaitAsync(Patience);
        Assert.All(seen, b => Assert.Equal(0x11, b));
    }

    [Fact]
    public void A_copy_stops_at_the_first_present_page_and_says_how_far_it_got()
    {
        Assert.Equal(Page, _uffd.Copy(PageAt(2), Filled(0x22)));          // page 2 present
        Assert.Equal(2 * Page, _uffd.Copy(PageAt(0), Filled(0x33, 4)));   // pages 0, 1; stops at 2
        Assert.Equal(0, _uffd.Copy(PageAt(2), Filled(0x44, 2)));          // EEXIST at once: 0, no throw
        Assert.Equal(Page, _uffd.Copy(PageAt(3), Filled(0x55)));          // page 3 was left missing
        Assert.Equal([0x33, 0x33, 0x22, 0x55], new[] { At(0), At(1), At(2), At(3) });
    }

    [Fact]
    public void Installing_over_a_half_present_range_installs_only_the_missing_pages()
    {
        Assert.Equal(Page, _uffd.Copy(PageAt(9), Filled(0x22)));
        Assert.Equal(Page, _uffd.Copy(PageAt(11), Filled(0x23)));
        Assert.Equal(2, _uffd.CopySkippingPresent(PageAt(8), Filled(0x44, 4)));  // pages 8 and 10
        Assert.Equal([0x44, 0x22, 0x44, 0x23], new[] { At(8), At(9), At(10), At(11, Page - 1) });
        Assert.Equal(0, _uffd.CopySkippingPresent(PageAt(8), Filled(0x45, 4)));  // all present now
        Assert.Equal(0x44, At(8));
    }

    [Fact]
    public async Task Installing_around_present_pages_wakes_a_thread_waiting_behind_them()
    {
        Assert.Equal(Page, _uffd.Copy(PageAt(6), Filled(0x66)));
        var reading = ReadByteAsync(7);
        Assert.True(_uffd.WaitForFault(Patience, out nint address));
        Assert.Equal(PageAt(7), address);
        Assert.Equal(2, _uffd.CopySkippingPresent(PageAt(5), Filled(0x77, 3)));  // 5 and 7; 6 skipped
        Assert.Equal(0x77, await reading.WaitAsync(Patience));
        Assert.Equal(0x66, At(6));
    }

    [Fact]
    public async Task Zero_pages_read_as_zero_skip_present_ones_and_wake_waiters()
    {
        Assert.Equal(Page, _uffd.Copy(PageAt(1), Filled(0x66)));
        var reading = ReadByteAsync(2);
        Assert.True(_uffd.WaitForFault(Patience, out nint address));
        Assert.Equal(PageAt(2), address);
        Assert.Equal(2, _uffd.ZeroSkippingPresent(PageAt(0), 3 * Page));
        Assert.Equal(0, await reading.WaitAsync(Patience));
        Assert.Equal([0, 0x66, 0], new[] { At(0, 100), At(1, 100), At(2, 100) });
        Assert.Equal(0, _uffd.ZeroSkippingPresent(PageAt(0), 3 * Page));
        Assert.Equal(0, _uffd.Copy(PageAt(0), Filled(0x01)));  // a zero page is present too
    }

    [Fact]
    public async Task Interrupt_releases_a_blocked_waiter_and_every_later_wait()
    {
        var waiting = Task.Factory.StartNew(() => _uffd.WaitForFault(Timeout.InfiniteTimeSpan, out _), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        _uffd.Interrupt();
        Assert.False(await waiting.WaitAsync(Patience));
        Assert.False(_uffd.WaitForFault(Patience, out _));
        Assert.False(_uffd.WaitForFault(Timeout.InfiniteTimeSpan, out _, out _));
    }

    [Fact]
    public async Task Dispose_releases_a_blocked_waiter_and_a_thread_blocked_on_a_fault()
    {
        var reading = ReadByteAsync(12);
        Assert.True(_uffd.WaitForFault(Patience, out _)); // the reader is blocked on page 12, unserved
        // The kernel may report the still-unserved fault again (a retried fault): such a waiter
        // keeps reading until Dispose makes it return false.
        var waiting = Task.Factory.StartNew(() => { while (_uffd.WaitForFault(Timeout.InfiniteTimeSpan, out _)) { } return false; },
            TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        _uffd.Dispose();
        Assert.False(await waiting.WaitAsync(Patience));
        Assert.Equal(0, await reading.WaitAsync(Patience)); // the fd closed: ordinary zero-filled memory
        Assert.False(_uffd.WaitForFault(Patience, out _));   // after Dispose: false, not ObjectDisposedException
        _uffd.Interrupt();
        _uffd.Dispose();
    }

    [Fact]
    public void A_timeout_returns_false_and_a_negative_one_is_refused()
    {
        Assert.False(_uffd.WaitForFault(TimeSpan.FromMilliseconds(20), out nint address));
        Assert.Equal(0, address);
        Assert.Throws<ArgumentOutOfRangeException>(() => _uffd.WaitForFault(TimeSpan.FromMilliseconds(-5), out _));
    }

    [Fact]
    public async Task An_unregistered_range_faults_no_more()
    {
        _uffd.Unregister(_memory.Address, _memory.SizeBytes);
        Assert.Equal(0, await ReadByteAsync(2).WaitAsync(Patience)); // ordinary zero-filled memory, no one to serve it
        Assert.False(_uffd.WaitForFault(TimeSpan.FromMilliseconds(50), out _));
    }

    public void Dispose()
    {
        _uffd.Dispose(); // wakes any reader still blocked on a fault: it then reads ordinary memory
        Task[] readers;
        lock (_readers) readers = [.. _readers];
        // Unmapped under a reader, the memory would crash the test host: rather leak it than that.
        if (SpinWait.SpinUntil(() => readers.All(r => r.IsCompleted), Patience)) _memory.Dispose();
    }
}
