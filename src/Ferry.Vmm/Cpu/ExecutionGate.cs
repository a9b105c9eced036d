namespace Ferry.Vmm.Cpu;

/// <summary>
/// Coordinates pause, resume and stop between the control thread and the vCPU threads. A pause
/// returns only once every vCPU has left KVM_RUN and parked, so vCPU state can be read.
/// </summary>
public sealed class ExecutionGate
{
    private readonly object _lock = new();
    private int _parked;
    private bool _pauseRequested;
    private volatile bool _stopRequested;

    public bool PauseRequested => Volatile.Read(ref _pauseRequested);
    public bool StopRequested => _stopRequested;

    /// <summary>Asks every vCPU to park; <paramref name="kickAll"/> forces them out of KVM_RUN. Blocks until all have parked or stopped.</summary>
    public void Pause(Action kickAll, Func<int> liveVcpus)
    {
        lock (_lock)
        {
            Volatile.Write(ref _pauseRequested, true);
        }
        kickAll();
        lock (_lock)
        {
            while (_parked < liveVcpus() && !_stopRequested)
                Monitor.Wait(_lock, 100);
        }
    }

    public void Resume()
    {
        lock (_lock)
        {
            Volatile.Write(ref _pauseRequested, false);
            Monitor.PulseAll(_lock);
        }
    }

    public void Stop(Action kickAll)
    {
        lock (_lock)
        {
            _stopRequested = true;
            Monitor.PulseAll(_lock);
        }
        kickAll();
    }

    /// <summary>Called by a vCPU thread: waits while a pause is in force.</summary>
    public void Park()
    {
        lock (_lock)
        {
            _parked++;
            Monitor.PulseAll(_lock);
            while (_pauseRequested && !_stopRequested) Monitor.Wait(_lock);
            _parked--;
        }
    }

    /// <summary>Called by a vCPU thread as it ends, so a pause in progress does not wait for it.</summary>
    public void Leave()
    {
        lock (_lock) Monitor.PulseAll(_lock);
    }

}
