using System.Diagnostics;

namespace Ferry.Vmm;

public sealed partial class KvmVm
{
    // Serializes pause and resume. The state lock is held only for moments: a vCPU that ends the
    // VM takes it, and must never wait for a pause that is waiting for that vCPU.
    private readonly object _controlLock = new();

    /// <summary>
    /// Stops every vCPU and freezes kvmclock, as QEMU does: guest time stands still while the
    /// VM is paused, so the guest sees no jump when it resumes. Returns how long the pause took.
    /// </summary>
    public TimeSpan Pause()
    {
        lock (_controlLock)
        {
            lock (_stateLock)
            {
                if (_state == VmRunState.Paused) return TimeSpan.Zero;
                if (_state != VmRunState.Running) throw new InvalidOperationException($"the VM is {Describe(_state)}, not running");
            }
            var started = Stopwatch.GetTimestamp();
            _gate.Pause(KickAll, () => _vcpus.Count(v => v.IsRunning));
            // Then the devices finish the request each is serving: nothing is in flight while paused.
            HoldDevices();
            var elapsed = Stopwatch.GetElapsedTime(started);
            lock (_stateLock)
            {
                if (_state != VmRunState.Running) throw new InvalidOperationException($"the VM is {Describe(_state)}");
                _clockAtPause = _vm.GetClock();
                _state = VmRunState.Paused;
            }
            return elapsed;
        }
    }

    private string? _holdReason;

    /// <summary>
    /// Why this paused VM must not simply be resumed (a migration whose outcome is unknown, or a
    /// destination that never got the word to run): it may be running elsewhere. Null when free.
    /// </summary>
    public string? HoldReason { get { lock (_stateLock) return _holdReason; } }

    /// <summary>Keeps the VM paused until someone resumes it with force (or stops it).</summary>
    public void Hold(string reason)
    {
        lock (_stateLock) _holdReason = reason;
    }

    /// <summary>Restores kvmclock to where it stood at the pause and lets the vCPUs run on. A held VM needs <paramref name="force"/>.</summary>
    public void Resume(bool force = false)
    {
        lock (_controlLock)
        {
            lock (_stateLock)
            {
                if (_state == VmRunState.Running) return;
                if (_state != VmRunState.Paused) throw new InvalidOperationException($"the VM is {Describe(_state)}, not paused");
                if (_holdReason is not null && !force)
                    throw new InvalidOperationException($"the VM is held: {_holdReason}. Resume it with --force only once you are sure it runs nowhere else");
                // A post-copy destination held before Go has only part of the guest's memory: the
                // rest is at the source, which alone holds the whole VM (found by the failure matrix).
                if (_holdReason is not null && AwaitingPages)
                    throw new InvalidOperationException("the VM is held and part of its memory is still at its post-copy source: it cannot run here. " +
                                                        "The source holds the whole VM: `ferry resume --force` there; `ferry stop` this copy");
                // A migration source that closed its images and taps takes them back before the guest runs on.
                try
                {
                    LockDisks();
                    OpenTaps();
                }
                // Said once: a failed migration's message adds that the VM stays paused here.
                catch (VmConfigException e) { throw new InvalidOperationException($"its devices could not be taken back: {e.Message}"); }
                _holdReason = null;
                _vm.SetClock(_clockAtPause with { Flags = 0, Realtime = 0, HostTsc = 0 });
                _state = VmRunState.Running;
            }
            ReleaseDevices();
            _gate.Resume();
        }
    }

    private static string Describe(VmRunState state) => state.ToString().ToLowerInvariant();
}
