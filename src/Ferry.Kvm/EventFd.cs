using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;

namespace Ferry.Kvm;

/// <summary>
/// An owned eventfd(2) counter, blocking, close-on-exec. KVM signals one for a guest write it
/// catches (KVM_IOEVENTFD) and raises a GSI when one is signalled (KVM_IRQFD); the VMM's own
/// threads signal and wait on them too. Closed exactly once.
/// </summary>
public sealed unsafe class EventFd : SafeHandle
{
    public EventFd() : base(-1, ownsHandle: true)
    {
        int fd = LibC.Eventfd(0, LibC.O_CLOEXEC);
        if (fd < 0) throw new KvmException("eventfd", Marshal.GetLastPInvokeError());
        SetHandle(fd);
    }

    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor number, for the structs of KVM_IOEVENTFD and KVM_IRQFD. Only while this object is alive.</summary>
    public int Number => (int)handle;

    /// <summary>Adds one to the counter, waking a waiter.</summary>
    public void Signal()
    {
        ulong one = 1;
        // Safe because one is a local 8-byte value, the size an eventfd write takes.
        while (LibC.Write(this, &one, 8) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR) throw new KvmException("eventfd write", errno);
        }
    }

    /// <summary>Blocks until the counter is non-zero, then returns it and resets it to zero.</summary>
    public ulong Wait()
    {
        ulong value;
        // Safe because value is a local 8-byte value, the size an eventfd read returns.
        while (LibC.Read(this, &value, 8) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR) throw new KvmException("eventfd read", errno);
        }
        return value;
    }

    /// <summary>
    /// Blocks until the counter is non-zero or <paramref name="other"/> (when given) is readable;
    /// resets the counter if it was set. Returns whether <paramref name="other"/> is readable. A
    /// device's I/O thread waits so on its notify eventfd and its backend (a tap) at once.
    /// </summary>
    public bool WaitAlongside(SafeHandle? other)
    {
        if (other is null)
        {
            Wait();
            return false;
        }
        bool addedSelf = false, addedOther = false;
        try
        {
            DangerousAddRef(ref addedSelf);
            other.DangerousAddRef(ref addedOther);
            LibC.PollFd* fds = stackalloc LibC.PollFd[2];
            while (true)
            {
                fds[0] = new LibC.PollFd { Fd = (int)handle, Events = LibC.POLLIN };
                fds[1] = new LibC.PollFd { Fd = (int)other.DangerousGetHandle(), Events = LibC.POLLIN };
                // Safe because fds points to two initialised entries on the stack and both fds are held open by the refs above.
                if (LibC.Poll(fds, 2, -1) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EINTR) continue;
                    throw new KvmException("poll", errno);
                }
                if ((fds[0].Revents & LibC.POLLIN) != 0) Wait(); // readable: the read does not block
                return (fds[1].Revents & LibC.POLLIN) != 0;
            }
        }
        finally
        {
            if (addedOther) other.DangerousRelease();
            if (addedSelf) DangerousRelease();
        }
    }

    protected override bool ReleaseHandle() => LibC.Close(handle) == 0;
}
