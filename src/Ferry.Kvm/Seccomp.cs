using System.Runtime.InteropServices;
using Ferry.Kvm.Interop;

namespace Ferry.Kvm;

/// <summary>
/// A seccomp filter that lets the process make only the system calls it is given and kills it
/// (the whole process, SIGSYS) on any other, or on a call from another ABI (x32, i386). Applied
/// to every thread at once (SECCOMP_FILTER_FLAG_TSYNC): the .NET runtime has many. Irrevocable.
/// </summary>
public static unsafe class Seccomp
{
    private const ushort LdWordAbs = 0x20, JumpIfEqual = 0x15, JumpIfGreaterOrEqual = 0x35, Return = 0x06;
    private const uint AuditArchX86_64 = 0xC000003E, X32Bit = 0x40000000;
    private const uint RetAllow = 0x7fff0000, RetKillProcess = 0x80000000;
    private const int OffsetOfNr = 0, OffsetOfArch = 4;
    private const long SysSeccomp = 317, SeccompSetModeFilter = 1, FlagTsync = 1;
    private const int PrSetNoNewPrivs = 38;

    [StructLayout(LayoutKind.Sequential)]
    public struct SockFilter(ushort code, byte jt, byte jf, uint k)
    {
        public ushort Code = code;
        public byte Jt = jt;
        public byte Jf = jf;
        public uint K = k;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    /// <summary>The BPF program: check the ABI, then one compare-and-allow pair per system call, then kill.</summary>
    public static SockFilter[] Program(IReadOnlyCollection<int> allowed)
    {
        var program = new List<SockFilter>
        {
            new(LdWordAbs, 0, 0, OffsetOfArch),
            new(JumpIfEqual, 1, 0, AuditArchX86_64),
            new(Return, 0, 0, RetKillProcess),
            new(LdWordAbs, 0, 0, OffsetOfNr),
            new(JumpIfGreaterOrEqual, 0, 1, X32Bit),
            new(Return, 0, 0, RetKillProcess),
        };
        foreach (int nr in allowed.Distinct().Order())
        {
            // Pairs keep every jump short (BPF jumps reach 255 instructions at most).
            program.Add(new(JumpIfEqual, 0, 1, (uint)nr));
            program.Add(new(Return, 0, 0, RetAllow));
        }
        program.Add(new(Return, 0, 0, RetKillProcess));
        return [.. program];
    }

    public static void Apply(IReadOnlyCollection<int> allowed)
    {
        var program = Program(allowed);
        if (LibC.Prctl(PrSetNoNewPrivs, 1, 0, 0, 0) != 0) throw new KvmException("prctl(PR_SET_NO_NEW_PRIVS)", Marshal.GetLastPInvokeError());
        fixed (SockFilter* filter = program)
        {
            var prog = new SockFprog { Length = (ushort)program.Length, Filter = filter };
            if (LibC.Syscall3(SysSeccomp, SeccompSetModeFilter, FlagTsync, (long)&prog) != 0) throw new KvmException("seccomp(SECCOMP_SET_MODE_FILTER)", Marshal.GetLastPInvokeError());
        }
    }
}
