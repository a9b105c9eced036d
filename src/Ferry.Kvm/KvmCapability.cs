namespace Ferry.Kvm;

/// <summary>KVM_CAP_* numbers from linux/kvm.h that Ferry asks about.</summary>
public enum KvmCapability
{
    Irqchip = 0,               // KVM_CAP_IRQCHIP
    UserMemory = 3,            // KVM_CAP_USER_MEMORY
    SetTssAddr = 4,            // KVM_CAP_SET_TSS_ADDR
    NrVcpus = 9,               // KVM_CAP_NR_VCPUS
    NrMemslots = 10,           // KVM_CAP_NR_MEMSLOTS
    Pit2 = 33,                 // KVM_CAP_PIT2
    AdjustClock = 39,          // KVM_CAP_ADJUST_CLOCK
    Xsave = 55,                // KVM_CAP_XSAVE
    Xcrs = 56,                 // KVM_CAP_XCRS
    MaxVcpus = 66,             // KVM_CAP_MAX_VCPUS
    ImmediateExit = 136,       // KVM_CAP_IMMEDIATE_EXIT
    ManualDirtyLogProtect2 = 168, // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
    Xsave2 = 208,              // KVM_CAP_XSAVE2
}
