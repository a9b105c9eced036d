using Ferry.Kvm.Interop;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Kvm;

/// <summary>An owned file descriptor for /dev/kvm, a VM or a vCPU. Closed exactly once.</summary>
public sealed class KvmFd : SafeHandleMinusOneIsInvalid
{
    public KvmFd() : base(ownsHandle: true) { }
    internal KvmFd(int fd) : base(ownsHandle: true) => SetHandle(fd);

    protected override bool ReleaseHandle() => LibC.Close(handle) == 0;
}
