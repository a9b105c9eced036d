using System.Runtime.InteropServices;
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
    private readonly Func<SafeHandle?>? _backend;
    private readonly Thread _thread;
    private readonly object _gate = new();
    // Quiesce calls not yet released. A worker starts held: nothing runs before the VM does.
    private int _holds = 1;
    // _waiting: the thread sleeps in poll(2) and may hold a reference to the backend's fd.
    private bool _busy, _waiting, _stopping;

    /// <param name="work">Runs the queues until they are empty or the argument says to stop (a hold is wanted).</param>
    /// <param name="backend">
    /// An fd that also wakes the thread when readable (a network device's tap), read anew before
    /// each wait: it may be closed and replaced while the worker is quiesced.
    /// </param>
    public VirtioWorker(string name, Action<Func<bool>> work, Func<SafeHandle?>? backend = null)
    {
        _work = work;
        _backend = backend;
        _thread = new Thread(Run) { Name = name, IsBackground = true };
        _thread.Start();
    }

    /// <summary>Signalled by KVM (ioeventfd) or by <see cref="Notify"/>.</summary>
    public EventFd Notification { get; } = new();

    /// <summary>A notify that reached the VMM as an MMIO exit (no ioeventfd) or a wake-up of our own.</summary>
    public void Notify() => Notification.Signal();

    /// <summary>
    /// Waits until no work runs and keeps it so until <see cref="Release"/>. Nestable. On return
    /// the thread is not inside poll either, so the backend's fd may be closed.
    /// </summary>
    public void Quiesce()
    {
        lock (_gate)
        {
            _holds++;
            if (_waiting) Notification.Signal(); // out of poll, into the wait for Release
            while (_busy || _waiting) Monitor.Wait(_gate);
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
            lock (_gate)
            {
                // Held: wait here, not in poll, so nothing holds the backend's fd while paused.
                while (_holds > 0 && !_stopping) Monitor.Wait(_gate);
                if (_stopping) return;
                _waiting = true;
            }
            try
            {
                var backend = _backend?.Invoke();
                try { Notification.WaitAlongside(backend); }
                catch (ObjectDisposedException) { } // the backend went while we were not held: look again
            }
            finally
            {
                lock (_gate)
                {
                    _waiting = false;
                    Monitor.PulseAll(_gate);
                }
            }
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
