using System.Runtime.CompilerServices;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm.Interop;

/// <summary>The KVM ioctl numbers of linux/kvm.h, named as there. Checked against the header by tests.</summary>
internal static class KvmIoctls
{
    // /dev/kvm
    internal static readonly nuint KVM_GET_API_VERSION = IoctlNumber.Io(0x00);
    internal static readonly nuint KVM_CREATE_VM = IoctlNumber.Io(0x01);
    internal static readonly nuint KVM_GET_MSR_INDEX_LIST = IoctlNumber.Iowr(0x02, 4);
    internal static readonly nuint KVM_CHECK_EXTENSION = IoctlNumber.Io(0x03);
    internal static readonly nuint KVM_GET_VCPU_MMAP_SIZE = IoctlNumber.Io(0x04);
    internal static readonly nuint KVM_GET_SUPPORTED_CPUID = IoctlNumber.Iowr(0x05, 8);

    // VM
    internal static readonly nuint KVM_CREATE_VCPU = IoctlNumber.Io(0x41);
    internal static readonly nuint KVM_GET_DIRTY_LOG = IoctlNumber.Iow(0x42, Unsafe.SizeOf<KvmDirtyLog>());
    internal static readonly nuint KVM_SET_USER_MEMORY_REGION = IoctlNumber.Iow(0x46, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
    internal static readonly nuint KVM_SET_TSS_ADDR = IoctlNumber.Io(0x47);
    internal static readonly nuint KVM_SET_IDENTITY_MAP_ADDR = IoctlNumber.Iow(0x48, 8);
    internal static readonly nuint KVM_CREATE_IRQCHIP = IoctlNumber.Io(0x60);
    internal static readonly nuint KVM_IRQ_LINE = IoctlNumber.Iow(0x61, Unsafe.SizeOf<KvmIrqLevel>());
    internal static readonly nuint KVM_GET_IRQCHIP = IoctlNumber.Iowr(0x62, Unsafe.SizeOf<KvmIrqchip>());
    internal static readonly nuint KVM_SET_IRQCHIP = IoctlNumber.Ior(0x63, Unsafe.SizeOf<KvmIrqchip>());
    internal static readonly nuint KVM_IRQFD = IoctlNumber.Iow(0x76, Unsafe.SizeOf<KvmIrqfd>());
    internal static readonly nuint KVM_IOEVENTFD = IoctlNumber.Iow(0x79, Unsafe.SizeOf<KvmIoeventfd>());
    internal static readonly nuint KVM_CREATE_PIT2 = IoctlNumber.Iow(0x77, Unsafe.SizeOf<KvmPitConfig>());
    internal static readonly nuint KVM_SET_CLOCK = IoctlNumber.Iow(0x7b, Unsafe.SizeOf<KvmClockData>());
    internal static readonly nuint KVM_GET_CLOCK = IoctlNumber.Ior(0x7c, Unsafe.SizeOf<KvmClockData>());
    internal static readonly nuint KVM_GET_PIT2 = IoctlNumber.Ior(0x9f, Unsafe.SizeOf<KvmPitState2>());
    internal static readonly nuint KVM_SET_PIT2 = IoctlNumber.Iow(0xa0, Unsafe.SizeOf<KvmPitState2>());
    internal static readonly nuint KVM_ENABLE_CAP = IoctlNumber.Iow(0xa3, Unsafe.SizeOf<KvmEnableCap>());
    internal static readonly nuint KVM_CLEAR_DIRTY_LOG = IoctlNumber.Iowr(0xc0, Unsafe.SizeOf<KvmClearDirtyLog>());

    // vCPU
    internal static readonly nuint KVM_RUN = IoctlNumber.Io(0x80);
    internal static readonly nuint KVM_GET_REGS = IoctlNumber.Ior(0x81, Unsafe.SizeOf<KvmRegs>());
    internal static readonly nuint KVM_SET_REGS = IoctlNumber.Iow(0x82, Unsafe.SizeOf<KvmRegs>());
    internal static readonly nuint KVM_GET_SREGS = IoctlNumber.Ior(0x83, Unsafe.SizeOf<KvmSregs>());
    internal static readonly nuint KVM_SET_SREGS = IoctlNumber.Iow(0x84, Unsafe.SizeOf<KvmSregs>());
    internal static readonly nuint KVM_GET_MSRS = IoctlNumber.Iowr(0x88, 8);
    internal static readonly nuint KVM_SET_MSRS = IoctlNumber.Iow(0x89, 8);
    internal static readonly nuint KVM_SET_SIGNAL_MASK = IoctlNumber.Iow(0x8b, 4);
    internal static readonly nuint KVM_GET_FPU = IoctlNumber.Ior(0x8c, Unsafe.SizeOf<KvmFpu>());
    internal static readonly nuint KVM_SET_FPU = IoctlNumber.Iow(0x8d, Unsafe.SizeOf<KvmFpu>());
    internal static readonly nuint KVM_GET_LAPIC = IoctlNumber.Ior(0x8e, Unsafe.SizeOf<KvmLapicState>());
    internal static readonly nuint KVM_SET_LAPIC = IoctlNumber.Iow(0x8f, Unsafe.SizeOf<KvmLapicState>());
    internal static readonly nuint KVM_SET_CPUID2 = IoctlNumber.Iow(0x90, 8);
    internal static readonly nuint KVM_GET_CPUID2 = IoctlNumber.Iowr(0x91, 8);
    internal static readonly nuint KVM_GET_MP_STATE = IoctlNumber.Ior(0x98, 4);
    internal static readonly nuint KVM_SET_MP_STATE = IoctlNumber.Iow(0x99, 4);
    internal static readonly nuint KVM_GET_VCPU_EVENTS = IoctlNumber.Ior(0x9f, Unsafe.SizeOf<KvmVcpuEvents>());
    internal static readonly nuint KVM_SET_VCPU_EVENTS = IoctlNumber.Iow(0xa0, Unsafe.SizeOf<KvmVcpuEvents>());
    internal static readonly nuint KVM_GET_DEBUGREGS = IoctlNumber.Ior(0xa1, Unsafe.SizeOf<KvmDebugregs>());
    internal static readonly nuint KVM_SET_DEBUGREGS = IoctlNumber.Iow(0xa2, Unsafe.SizeOf<KvmDebugregs>());
    internal static readonly nuint KVM_GET_XSAVE = IoctlNumber.Ior(0xa4, Unsafe.SizeOf<KvmXsave>());
    internal static readonly nuint KVM_SET_XSAVE = IoctlNumber.Iow(0xa5, Unsafe.SizeOf<KvmXsave>());
    internal static readonly nuint KVM_GET_XCRS = IoctlNumber.Ior(0xa6, Unsafe.SizeOf<KvmXcrs>());
    internal static readonly nuint KVM_SET_XCRS = IoctlNumber.Iow(0xa7, Unsafe.SizeOf<KvmXcrs>());
    internal static readonly nuint KVM_GET_XSAVE2 = IoctlNumber.Ior(0xcf, Unsafe.SizeOf<KvmXsave>());

}
