using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;

namespace Ferry.Kvm;

/// <summary>
/// Forces a vCPU thread out of KVM_RUN. The kick signal is blocked on the vCPU thread at all
/// times except inside KVM_RUN (KVM_SET_SIGNAL_MASK), so it can only interrupt the guest,
/// never the VMM's own code; immediate_exit covers a kick that lands just before KVM_RUN.
/// </summary>
public static unsafe class VcpuKick
{
    /// <summary>SIGRTMIN+6: the .NET runtime uses SIGRTMIN for its own thread activation.</summary>
    public static int Signal { get; } = LibC.CurrentSigRtMin() + 6;

    private static ulong Bit => 1UL << (Signal - 1);

    /// <summary>Call once per process: a pending blocked signal must never kill the process if it is unblocked.</summary>
    public static void InstallIgnore() => LibC.Signal(Signal, 1 /* SIG_IGN */);

    /// <summary>On the calling (vCPU) thread: block the kick signal; returns the mask KVM_RUN should use.</summary>
    public static ulong BlockOnCurrentThread()
    {
        ulong set = Bit, old = 0;
        if (LibC.PthreadSigmask(LibC.SIG_BLOCK, &set, &old) != 0) throw new KvmException("pthread_sigmask", LibC.EINTR);
        return old & ~Bit;
    }

    public static int CurrentThreadId => LibC.GetTid();

    /// <summary>Sends the kick to a vCPU thread.</summary>
    public static void Send(int threadId)
    {
        if (LibC.Tgkill(LibC.GetPid(), threadId, Signal) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != 3 /* ESRCH: the thread has ended */) throw new KvmException("tgkill", errno);
        }
    }

    /// <summary>On the vCPU thread after KVM_RUN: consumes a pending kick so the next KVM_RUN does not return at once.</summary>
    public static void DrainPending()
    {
        ulong set = Bit;
        var zero = new LibC.Timespec();
        while (LibC.Sigtimedwait(&set, null, &zero) > 0) { }
    }
}
