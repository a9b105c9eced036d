namespace Ferry.Kvm;

/// <summary>KVM_EXIT_* reasons from linux/kvm.h that the VMM handles.</summary>
public enum KvmExitReason : uint
{
    Unknown = 0,
    Exception = 1,
    Io = 2,
    Hypercall = 3,
    Debug = 4,
    Hlt = 5,
    Mmio = 6,
    IrqWindowOpen = 7,
    Shutdown = 8,
    FailEntry = 9,
    Intr = 10,
    InternalError = 17,
    SystemEvent = 24,
}
