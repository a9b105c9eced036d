using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm.Tests.Abi;

/// <summary>The flags and constants of KVM_IOEVENTFD, KVM_IRQFD, flock, fallocate, lseek, open and eventfd against the headers.</summary>
public sealed class HostConstantTests
{
    public static TheoryData<string, long> Constants => new()
    {
        { "KVM_IOEVENTFD_FLAG_DEASSIGN", KvmIoeventfd.FlagDeassign },
        { "KVM_IRQFD_FLAG_DEASSIGN", KvmIrqfd.FlagDeassign },
        { "LOCK_SH", LibC.LOCK_SH },
        { "LOCK_EX", LibC.LOCK_EX },
        { "LOCK_NB", LibC.LOCK_NB },
        { "LOCK_UN", LibC.LOCK_UN },
        { "FALLOC_FL_KEEP_SIZE", LibC.FALLOC_FL_KEEP_SIZE },
        { "FALLOC_FL_PUNCH_HOLE", LibC.FALLOC_FL_PUNCH_HOLE },
        { "EFD_CLOEXEC", LibC.O_CLOEXEC },
        { "EWOULDBLOCK", LibC.EWOULDBLOCK },
        { "EOPNOTSUPP", LibC.EOPNOTSUPP },
        { "ENOSYS", LibC.ENOSYS },
        { "O_CREAT", LibC.O_CREAT },
        { "SEEK_DATA", LibC.SEEK_DATA },
        { "SEEK_HOLE", LibC.SEEK_HOLE },
        { "ENXIO", LibC.ENXIO },
        { "EINVAL", LibC.EINVAL },
    };

    [Theory]
    [MemberData(nameof(Constants))]
    public void Constant_matches_the_headers(string name, long ours) => Assert.Equal((ulong)ours, KernelAbi.Const(name));
}
