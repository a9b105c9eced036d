namespace Ferry.Vmm.Cpu;

/// <summary>
/// Auto-converge: slows a running guest so a live migration can outrun its dirtying. A ticker
/// thread kicks every vCPU out of KVM_RUN once per 10 ms period; a kicked vCPU sleeps the
/// throttled share of the period before it re-enters. Guest time runs on meanwhile, as when a
/// host is busy. At 0 % the ticker waits and the vCPUs are never kicked.
/// </summary>
public sealed class VcpuThrottle(Action kickAll) : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);
    private readonly object _lock = new();
    private volatile int _percent;
    private bool _disposed;
    private Thread? _ticker;

    public int Percent => _percent;

    public void Set(int percent)
    {
        lock (_lock)
        {
            _percent = Math.Clamp(percent, 0, 99);
            if (_percent > 0 && _ticker is null && !_disposed)
            {
                _ticker = new Thread(Tick) { Name = "vcpu-throttle", IsBackground = true };
                _ticker.Start();
            }
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Called by a vCPU thread that was kicked out of KVM_RUN.</summary>
    public void SleepIfThrottled()
    {
        int percent = _percent;
        if (percent > 0) Thread.Sleep(Period * percent / 100);
    }

    private void Tick()
    {
        while (true)
        {
            lock (_lock)
            {
                while (_percent == 0 && !_disposed) Monitor.Wait(_lock);
                if (_disposed) return;
            }
            // One kick per period, whatever the share: a kicked vCPU sleeps its share and then runs
            // until the next kick. (Kicking every (100 − p) % of a period, as this once did, kicked
            // vCPUs again while they slept: from 50 % on they hardly ran at all, and the guest
            // stalled for half a second at a time.)
            Thread.Sleep(Period);
            if (_percent > 0) kickAll();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _percent = 0;
            Monitor.PulseAll(_lock);
        }
    }
}
