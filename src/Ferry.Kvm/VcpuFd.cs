using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm;

/// <summary>What one KVM_RUN call ended with.</summary>
public enum RunResult { Exit, Interrupted }

/// <summary>A vCPU file descriptor and its kvm_run page. Run it only from its own thread.</summary>
public sealed unsafe class VcpuFd : IDisposable
{
    private readonly KvmFd _fd;
    private readonly int _mmapSize;
    private readonly byte* _run;

    internal VcpuFd(KvmFd fd, int id, int mmapSize)
    {
        _fd = fd;
        Id = id;
        _mmapSize = mmapSize;
        void* p = LibC.Mmap(null, (nuint)mmapSize, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        if (p == (void*)-1) throw new KvmException($"mmap of vCPU {id}'s kvm_run", Marshal.GetLastPInvokeError());
        _run = (byte*)p;
    }

    public int Id { get; }

    /// <summary>The shared kvm_run head: exit reason, immediate_exit.</summary>
    public ref KvmRun RunState => ref *(KvmRun*)_run;

    public ref KvmRunIo IoExit => ref *(KvmRunIo*)(_run + 32);
    public ref KvmRunMmio MmioExit => ref *(KvmRunMmio*)(_run + 32);
    public ref KvmRunCodeAndData CodeAndData => ref *(KvmRunCodeAndData*)(_run + 32);

    /// <summary>The I/O data of the current KVM_EXIT_IO: size × count bytes inside the kvm_run area.</summary>
    public Span<byte> IoData
    {
        get
        {
            ref var io = ref IoExit;
            int length = io.Size * (int)io.Count;
            if ((long)io.DataOffset + length > _mmapSize) throw new InvalidOperationException("KVM_EXIT_IO data outside kvm_run");
            return new Span<byte>(_run + io.DataOffset, length);
        }
    }

    /// <summary>KVM_RUN. Returns Interrupted when a signal or immediate_exit ended it (EINTR) or after INIT (EAGAIN).</summary>
    public RunResult Run()
    {
        if (LibC.Ioctl(_fd, KvmIoctls.KVM_RUN, 0) == 0) return RunResult.Exit;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is LibC.EINTR or LibC.EAGAIN) return RunResult.Interrupted;
        throw new KvmException($"KVM_RUN on vCPU {Id}", errno);
    }

    public KvmRegs GetRegs() => Get<KvmRegs>(KvmIoctls.KVM_GET_REGS, "KVM_GET_REGS");
    public void SetRegs(KvmRegs regs) => Set(KvmIoctls.KVM_SET_REGS, ref regs, "KVM_SET_REGS");
    public KvmSregs GetSregs() => Get<KvmSregs>(KvmIoctls.KVM_GET_SREGS, "KVM_GET_SREGS");
    public void SetSregs(KvmSregs sregs) => Set(KvmIoctls.KVM_SET_SREGS, ref sregs, "KVM_SET_SREGS");
    public KvmFpu GetFpu() => Get<KvmFpu>(KvmIoctls.KVM_GET_FPU, "KVM_GET_FPU");
    public void SetFpu(KvmFpu fpu) => Set(KvmIoctls.KVM_SET_FPU, ref fpu, "KVM_SET_FPU");
    public KvmLapicState GetLapic() => Get<KvmLapicState>(KvmIoctls.KVM_GET_LAPIC, "KVM_GET_LAPIC");
    public void SetLapic(KvmLapicState lapic) => Set(KvmIoctls.KVM_SET_LAPIC, ref lapic, "KVM_SET_LAPIC");
    public uint GetMpState() => Get<uint>(KvmIoctls.KVM_GET_MP_STATE, "KVM_GET_MP_STATE");
    public void SetMpState(uint state) => Set(KvmIoctls.KVM_SET_MP_STATE, ref state, "KVM_SET_MP_STATE");
    public KvmVcpuEvents GetVcpuEvents() => Get<KvmVcpuEvents>(KvmIoctls.KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");
    public void SetVcpuEvents(KvmVcpuEvents events) => Set(KvmIoctls.KVM_SET_VCPU_EVENTS, ref events, "KVM_SET_VCPU_EVENTS");
    public KvmDebugregs GetDebugregs() => Get<KvmDebugregs>(KvmIoctls.KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS");
    public void SetDebugregs(KvmDebugregs regs) => Set(KvmIoctls.KVM_SET_DEBUGREGS, ref regs, "KVM_SET_DEBUGREGS");
    public KvmXcrs GetXcrs() => Get<KvmXcrs>(KvmIoctls.KVM_GET_XCRS, "KVM_GET_XCRS");
    public void SetXcrs(KvmXcrs xcrs) => Set(KvmIoctls.KVM_SET_XCRS, ref xcrs, "KVM_SET_XCRS");

    /// <summary>KVM_GET_XSAVE2 into a buffer of the size KVM_CAP_XSAVE2 reported (at least 4 KiB).</summary>
    public byte[] GetXsave(int size)
    {
        var buffer = new byte[Math.Max(size, sizeof(KvmXsave))];
        fixed (byte* p = buffer)
            Kvm.Check(LibC.Ioctl(_fd, size > sizeof(KvmXsave) ? KvmIoctls.KVM_GET_XSAVE2 : KvmIoctls.KVM_GET_XSAVE, p), "KVM_GET_XSAVE");
        return buffer;
    }

    /// <summary>KVM_SET_XSAVE; KVM reads as many bytes as its XSAVE2 size says.</summary>
    public void SetXsave(ReadOnlySpan<byte> xsave)
    {
        if (xsave.Length < sizeof(KvmXsave)) throw new ArgumentException("an XSAVE area is at least 4 KiB", nameof(xsave));
        fixed (byte* p = xsave)
            Kvm.Check(LibC.Ioctl(_fd, KvmIoctls.KVM_SET_XSAVE, p), "KVM_SET_XSAVE");
    }

    /// <summary>KVM_SET_CPUID2: the CPUID leaves this vCPU reports.</summary>
    public void SetCpuid(ReadOnlySpan<KvmCpuidEntry2> entries)
    {
        var buffer = new byte[8 + entries.Length * sizeof(KvmCpuidEntry2)];
        fixed (byte* p = buffer)
        {
            *(uint*)p = (uint)entries.Length;
            entries.CopyTo(new Span<KvmCpuidEntry2>(p + 8, entries.Length));
            Kvm.Check(LibC.Ioctl(_fd, KvmIoctls.KVM_SET_CPUID2, p), "KVM_SET_CPUID2");
        }
    }

    /// <summary>KVM_GET_MSRS for the given indices; returns the entries KVM filled.</summary>
    public KvmMsrEntry[] GetMsrs(ReadOnlySpan<uint> indices)
    {
        var entries = new KvmMsrEntry[indices.Length];
        for (int i = 0; i < indices.Length; i++) entries[i].Index = indices[i];
        int read = MsrCall(KvmIoctls.KVM_GET_MSRS, entries, "KVM_GET_MSRS");
        return entries.AsSpan(0, read).ToArray();
    }

    /// <summary>KVM_SET_MSRS; throws when KVM refuses one of them, naming it.</summary>
    public void SetMsrs(ReadOnlySpan<KvmMsrEntry> msrs)
    {
        var entries = msrs.ToArray();
        int written = MsrCall(KvmIoctls.KVM_SET_MSRS, entries, "KVM_SET_MSRS");
        if (written != entries.Length)
            throw new KvmException($"KVM_SET_MSRS (MSR {entries[written].Index:x})", 22 /* EINVAL */);
    }

    private int MsrCall(nuint request, KvmMsrEntry[] entries, string name)
    {
        var buffer = new byte[8 + entries.Length * sizeof(KvmMsrEntry)];
        fixed (byte* p = buffer)
        {
            *(uint*)p = (uint)entries.Length;
            var span = new Span<KvmMsrEntry>(p + 8, entries.Length);
            entries.CopyTo(span);
            int n = Kvm.Check(LibC.Ioctl(_fd, request, p), name);
            span.CopyTo(entries);
            return n;
        }
    }

    /// <summary>KVM_SET_SIGNAL_MASK: the signal mask in force while this vCPU is inside KVM_RUN.</summary>
    public void SetSignalMask(ulong mask)
    {
        var buffer = stackalloc byte[4 + 8];
        *(uint*)buffer = 8;
        *(ulong*)(buffer + 4) = mask;
        Kvm.Check(LibC.Ioctl(_fd, KvmIoctls.KVM_SET_SIGNAL_MASK, buffer), "KVM_SET_SIGNAL_MASK");
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        LibC.Munmap(_run, (nuint)_mmapSize);
        _fd.Dispose();
    }

    private T Get<T>(nuint request, string name) where T : unmanaged => StructIoctl.Get<T>(_fd, request, $"{name} on vCPU {Id}");

    private void Set<T>(nuint request, ref T value, string name) where T : unmanaged => StructIoctl.Call(_fd, request, ref value, $"{name} on vCPU {Id}");
}
