using System.Runtime.InteropServices;

namespace Ferry.Kvm.Tests;

/// <summary>
/// userfaultfd on plain anonymous memory (no KVM needed): touches of missing pages block until
/// served, one install wakes every waiter, present pages are never overwritten.
/// </summary>
public sealed class UserfaultfdTests : IDisposable
{
    private const int Page = HostMemory.PageSize;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly HostMemory _memory = HostMemory.MapAnonymous(16 * Page);
    private readonly Userfaultfd _uffd = Userfaultfd.Open();

    public UserfaultfdTests() => _uffd.RegisterMissing(_memory.Address, _memory.SizeBytes);

    private static byte[] Filled(byte value, int pages = 1) => Enumerable.Repeat(value, pages * Page).ToArray();

    private Task<byte> ReadByteAsync(int page) => Task.Factory.StartNew(() => Marshal.ReadByte(_memory.Address + page * Page + 7),
        CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public async Task A_touch_of_a_missing_page_blocks_until_it_is_served_and_sees_what_was_served()
    {
        var reading = ReadByteAsync(3);
        Assert.True(_uffd.WaitForFault(Patience, out nint address, out int thread));
        Assert.Equal(_memory.Address + 3 * Page, address);
        Assert.NotEqual(0, thread); // the kernel names the thread (UFFD_FEATURE_THREAD_ID)
        Assert.False(reading.IsCompleted);
        Assert.Equal(Page, _uffd.Copy(address, Filled(0x5a)));
        Assert.Equal(0x5a, await reading.WaitAsync(Patience));
    }

    [Fact]
    public async Task One_copy_wakes_every_thread_waiting_on_the_page()
    {
        var readers = Enumerable.Range(0, 4).Select(_ => ReadByteAsync(5)).ToList();
        Assert.True(_uffd.WaitForFault(Patience, out nint address, out _));
        Assert.Equal(Page, _uffd.Copy(address, Filled(0x11)));
        var seen = await Task.WhenAll(readers).WaitAsync(Patience);
        Assert.All(seen, b => Assert.Equal(0x11, b));
    }

    [Fact]
    public void Installing_over_present_pages_leaves_them_unchanged()
    {
        nint at = _memory.Address + 8 * Page;
        Assert.Equal(Page, _uffd.Copy(at + Page, Filled(0x22)));          // page 9 present
        Assert.Equal(0, _uffd.Copy(at + Page, Filled(0x33)));             // EEXIST: nothing installed, no throw
        Assert.Equal(3, _uffd.CopySkippingPresent(at, Filled(0x44, 4)));  // pages 8, 10, 11
        var span = _memory.Slice(8 * Page, 4 * Page);
        Assert.Equal(0x44, span[0]);
        Assert.Equal(0x22, span[Page]);
        Assert.Equal(0x44, span[2 * Page]);
        Assert.Equal(0x44, span[3 * Page]);
    }

    [Fact]
    public void Zero_pages_read_as_zero_and_skip_present_ones()
    {
        Assert.Equal(Page, _uffd.Copy(_memory.Address + Page, Filled(0x66)));
        Assert.Equal(2, _uffd.ZeroSkippingPresent(_memory.Address, 3 * Page));
        Assert.Equal(0, _memory.Slice(0, Page)[100]);
        Assert.Equal(0x66, _memory.Slice(Page, Page)[100]);
        Assert.Equal(0, _memory.Slice(2 * Page, Page)[100]);
    }

    [Fact]
    public async Task Interrupt_releases_a_blocked_waiter_and_every_later_wait()
    {
        var waiting = Task.Factory.StartNew(() => _uffd.WaitForFault(Timeout.InfiniteTimeSpan, out _, out _), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        _uffd.Interrupt();
        Assert.False(await waiting.WaitAsync(Patience));
        Assert.False(_uffd.WaitForFault(Patience, out _, out _));
    }

    [Fact]
    public void An_unregistered_range_faults_no_more()
    {
        _uffd.Unregister(_memory.Address, _memory.SizeBytes);
        Assert.Equal(0, Marshal.ReadByte(_memory.Address + 2 * Page)); // ordinary zero-filled memory, no one to serve it
        Assert.False(_uffd.WaitForFault(TimeSpan.FromMilliseconds(50), out _, out _));
    }

    public void Dispose()
    {
        _uffd.Dispose();
        _memory.Dispose();
    }
}
