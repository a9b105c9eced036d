using Ferry.Kvm;
using Ferry.Kvm.Structs;
using Ferry.Vmm.Devices;

namespace Ferry.Vmm.Cpu;

/// <summary>
/// One vCPU: its KVM file descriptor and the dedicated thread that runs it. The thread blocks
/// in KVM_RUN and handles exits; it is never async. The kick signal (see VcpuKick) is the only
/// way another thread interrupts it.
/// </summary>
public sealed partial class Vcpu : IDisposable
{
    private readonly VcpuFd _fd;
    private readonly ExecutionGate _gate;
    private readonly PortBus _ports;
    private readonly MmioBus _mmio;
    private readonly Action<VmExit> _onExit;
    private readonly VcpuThrottle _throttle;
    private Thread? _thread;
    private volatile int _threadId;
    private volatile bool _running;

    public Vcpu(VcpuFd fd, ExecutionGate gate, PortBus ports, MmioBus mmio, VcpuThrottle throttle, Action<VmExit> onExit)
    {
        _mmio = mmio;
        _throttle = throttle;
        _fd = fd;
        _gate = gate;
        _ports = ports;
        _onExit = onExit;
    }

    public int Id => _fd.Id;
    /// <summary>The Linux thread id of this vCPU's thread once it runs (0 before): how a fault report names the vCPU.</summary>
    public int ThreadId => _threadId;
    public VcpuFd Fd => _fd;
    public bool IsRunning => _running;

    public void Start()
    {
        _running = true;
        _thread = new Thread(RunLoop) { Name = $"vcpu{Id}", IsBackground = true };
        _thread.Start();
    }

    /// <summary>Forces the vCPU out of KVM_RUN: immediate_exit for a KVM_RUN about to start, the signal for one in progress.</summary>
    public void Kick()
    {
        _fd.RunState.ImmediateExit = 1;
        Thread.MemoryBarrier();
        int tid = _threadId;
        if (tid != 0) VcpuKick.Send(tid);
    }

    public void Join() => _thread?.Join();

    private void RunLoop()
    {
        try
        {
            _fd.SetSignalMask(VcpuKick.BlockOnCurrentThread());
            _threadId = VcpuKick.CurrentThreadId;
            while (!_gate.StopRequested)
            {
                if (_gate.PauseRequested)
                {
                    CompletePendingExit();
                    _gate.Park();
                    continue;
                }
                if (_fd.Run() == RunResult.Interrupted)
                {
                    _fd.RunState.ImmediateExit = 0;
                    VcpuKick.DrainPending();
                    if (!_gate.PauseRequested) _throttle.SleepIfThrottled();
                    continue;
                }
                var exit = HandleExit();
                if (exit is not null)
                {
                    _onExit(exit);
                    break;
                }
            }
        }
        catch (Exception e)
        {
            _onExit(new VmExit(VmExitKind.VmmError, $"vCPU {Id}: {e.Message}"));
        }
        finally
        {
            _threadId = 0;
            _running = false;
            _gate.Leave();
        }
    }

    /// <summary>
    /// A port read is only finished when KVM_RUN is entered again; until then the register
    /// state KVM reports is mid-instruction. Entering with immediate_exit set completes it
    /// and returns at once, so a paused vCPU's state is always between instructions.
    /// </summary>
    private void CompletePendingExit()
    {
        _fd.RunState.ImmediateExit = 1;
        _fd.Run();
        _fd.RunState.ImmediateExit = 0;
        VcpuKick.DrainPending();
    }

    public void Dispose() => _fd.Dispose();
}
