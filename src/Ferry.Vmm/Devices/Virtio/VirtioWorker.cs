using Ferry.Kvm;

namespace Ferry.Vmm.Devices.Virtio;

/// <summary>
/// The I/O thread of one virtio device: it sleeps on an eventfd that KVM signals when the guest
/// writes QueueNotify (KVM_IOEVENTFD, so a notify never stops the vCPU), and runs the device's
/// queue work off the vCPU threads. <see cref="Quiesce"/> (pause, reset) returns once the work in
/// progress has finished: the device stops between requests, never inside one, so nothing is in
/// flight while the VM is paused. <see cref="Release"/> lets it go on and rescans the queues.
/// A new worker is held once: the VM releases it when it starts.
/// </summary>
public sealed class VirtioWorker : IDisposable
{
    private readonly Action<Func<bool>> _work;
    private readonly Thread _thread;
    private readonly object _gate = new();
    // Quiesce calls not yet released. A worker starts held: nothing runs before the VM does.
    private int _holds = 1;
    private bool _busy, _stopping;

    /// <param name="work">Runs the queues until they are empty or the argument says to stop (a hold is wanted).</param>
    public VirtioWorker(string name, Action<Func<bool>> work)
    {
        _work = work;
        _thread = new Thread(Run) { Name = name, IsBackground = true };
        _thread.Start();
    }

    /// <summary>Signalled by KVM (ioeventfd) or by <see cref="Notify"/>.</summary>
    public EventFd Notification { get; } = new();

    /// <summary>A notify that reached the VMM as an MMIO exit (no ioeventfd) or a wake-up of our own.</summary>
    public void Notify() => Notification.Signal();

    /// <summary>Waits until no work runs and keeps it so until <see cref="Release"/>. Nestable.</summary>
    public void Quiesce()
    {
        lock (_gate)
        {
            _holds++;
            while (_busy) Monitor.Wait(_gate);
        }
    }

    /// <summary>Ends one Quiesce; the last one wakes the thread to look at the queues again.</summary>
    public void Release()
    {
        lock (_gate)
        {
            if (_holds == 0) throw new InvalidOperationException("Release without Quiesce");
            if (--_holds > 0) return;
            Monitor.PulseAll(_gate);
        }
        Notify();
    }

    private void Run()
    {
        while (true)
        {
            Notification.Wait();
            lock (_gate)
            {
                while (_holds > 0 && !_stopping) Monitor.Wait(_gate);
                if (_stopping) return;
                _busy = true;
            }
            try { _work(() => Volatile.Read(ref _holds) > 0); }
            finally
            {
                lock (_gate)
                {
                    _busy = false;
                    Monitor.PulseAll(_gate);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        Notify();
        _thread.Join();
        Notification.Dispose();
    }
}
