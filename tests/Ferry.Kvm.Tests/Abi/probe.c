/* Prints the sizes, field offsets and ioctl numbers of <linux/kvm.h> that Ferry.Kvm mirrors,
 * one per line: "size NAME N", "offset NAME.FIELD N", "ioctl NAME N". The tests compare them
 * with the C# layouts, so no number is ever copied from the header by hand. */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include <linux/kvm.h>
#include <linux/falloc.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#define SIZE(s) printf("size %s %zu\n", #s, sizeof(struct s))
#define OFF(s, f) printf("offset %s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define IOCTL(n) printf("ioctl %s %lu\n", #n, (unsigned long)(n))

int main(void)
{
    SIZE(kvm_regs); OFF(kvm_regs, rax); OFF(kvm_regs, r8); OFF(kvm_regs, rip); OFF(kvm_regs, rflags);
    SIZE(kvm_segment); OFF(kvm_segment, base); OFF(kvm_segment, limit); OFF(kvm_segment, selector);
    OFF(kvm_segment, type); OFF(kvm_segment, present); OFF(kvm_segment, dpl); OFF(kvm_segment, db);
    OFF(kvm_segment, s); OFF(kvm_segment, l); OFF(kvm_segment, g); OFF(kvm_segment, avl); OFF(kvm_segment, unusable);
    SIZE(kvm_dtable); OFF(kvm_dtable, base); OFF(kvm_dtable, limit);
    SIZE(kvm_sregs); OFF(kvm_sregs, cs); OFF(kvm_sregs, tr); OFF(kvm_sregs, ldt); OFF(kvm_sregs, gdt); OFF(kvm_sregs, idt);
    OFF(kvm_sregs, cr0); OFF(kvm_sregs, cr3); OFF(kvm_sregs, efer); OFF(kvm_sregs, apic_base); OFF(kvm_sregs, interrupt_bitmap);
    SIZE(kvm_msr_entry); OFF(kvm_msr_entry, index); OFF(kvm_msr_entry, data);
    SIZE(kvm_cpuid_entry2); OFF(kvm_cpuid_entry2, function); OFF(kvm_cpuid_entry2, index); OFF(kvm_cpuid_entry2, flags);
    OFF(kvm_cpuid_entry2, eax); OFF(kvm_cpuid_entry2, edx);
    SIZE(kvm_userspace_memory_region); OFF(kvm_userspace_memory_region, slot); OFF(kvm_userspace_memory_region, flags);
    OFF(kvm_userspace_memory_region, guest_phys_addr); OFF(kvm_userspace_memory_region, memory_size);
    OFF(kvm_userspace_memory_region, userspace_addr);
    SIZE(kvm_clock_data); OFF(kvm_clock_data, clock); OFF(kvm_clock_data, flags); OFF(kvm_clock_data, realtime); OFF(kvm_clock_data, host_tsc);
    SIZE(kvm_dirty_log); OFF(kvm_dirty_log, slot); OFF(kvm_dirty_log, dirty_bitmap);
    SIZE(kvm_clear_dirty_log); OFF(kvm_clear_dirty_log, slot); OFF(kvm_clear_dirty_log, num_pages);
    OFF(kvm_clear_dirty_log, first_page); OFF(kvm_clear_dirty_log, dirty_bitmap);
    SIZE(kvm_irq_level); OFF(kvm_irq_level, irq); OFF(kvm_irq_level, level);
    SIZE(kvm_pit_config); SIZE(kvm_enable_cap); OFF(kvm_enable_cap, cap); OFF(kvm_enable_cap, args);
    SIZE(kvm_lapic_state); SIZE(kvm_xsave); SIZE(kvm_vcpu_events); SIZE(kvm_irqchip); SIZE(kvm_pit_state2);
    SIZE(kvm_debugregs); SIZE(kvm_xcrs); SIZE(kvm_fpu);
    OFF(kvm_vcpu_events, exception.injected); OFF(kvm_vcpu_events, exception.nr); OFF(kvm_vcpu_events, exception.has_error_code);
    OFF(kvm_vcpu_events, exception.pending); OFF(kvm_vcpu_events, interrupt.injected); OFF(kvm_vcpu_events, interrupt.soft);
    OFF(kvm_vcpu_events, interrupt.shadow); OFF(kvm_vcpu_events, nmi.injected); OFF(kvm_vcpu_events, nmi.pending);
    OFF(kvm_vcpu_events, nmi.masked); OFF(kvm_vcpu_events, sipi_vector); OFF(kvm_vcpu_events, flags);
    OFF(kvm_vcpu_events, smi.smm); OFF(kvm_vcpu_events, smi.pending); OFF(kvm_vcpu_events, smi.smm_inside_nmi);
    OFF(kvm_vcpu_events, smi.latched_init); OFF(kvm_vcpu_events, exception_has_payload);
    OFF(kvm_xcrs, nr_xcrs); OFF(kvm_xcrs, flags); OFF(kvm_xcrs, xcrs); SIZE(kvm_xcr); OFF(kvm_xcr, xcr); OFF(kvm_xcr, value);
    OFF(kvm_debugregs, dr6); OFF(kvm_debugregs, dr7); OFF(kvm_debugregs, flags);
    OFF(kvm_irqchip, chip_id);
    OFF(kvm_pit_state2, channels); SIZE(kvm_pit_channel_state); OFF(kvm_pit_channel_state, rw_mode);
    OFF(kvm_pit_channel_state, mode); OFF(kvm_pit_channel_state, bcd); OFF(kvm_pit_channel_state, gate);
    printf("const KVM_MAX_XCRS %d\n", KVM_MAX_XCRS);
    SIZE(kvm_ioeventfd); OFF(kvm_ioeventfd, datamatch); OFF(kvm_ioeventfd, addr); OFF(kvm_ioeventfd, len);
    OFF(kvm_ioeventfd, fd); OFF(kvm_ioeventfd, flags); OFF(kvm_ioeventfd, pad);
    SIZE(kvm_irqfd); OFF(kvm_irqfd, fd); OFF(kvm_irqfd, gsi); OFF(kvm_irqfd, flags); OFF(kvm_irqfd, resamplefd); OFF(kvm_irqfd, pad);
    printf("const KVM_IOEVENTFD_FLAG_DEASSIGN %d\n", KVM_IOEVENTFD_FLAG_DEASSIGN);
    printf("const KVM_IRQFD_FLAG_DEASSIGN %d\n", KVM_IRQFD_FLAG_DEASSIGN);
    printf("const LOCK_SH %d\nconst LOCK_EX %d\nconst LOCK_NB %d\nconst LOCK_UN %d\n", LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN);
    printf("const FALLOC_FL_KEEP_SIZE %d\nconst FALLOC_FL_PUNCH_HOLE %d\n", FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE);
    printf("const EFD_CLOEXEC %d\nconst EWOULDBLOCK %d\nconst EOPNOTSUPP %d\nconst ENOSYS %d\n", EFD_CLOEXEC, EWOULDBLOCK, EOPNOTSUPP, ENOSYS);
    printf("const O_CREAT %d\nconst SEEK_DATA %d\nconst SEEK_HOLE %d\nconst ENXIO %d\nconst EINVAL %d\n", O_CREAT, SEEK_DATA, SEEK_HOLE, ENXIO, EINVAL);
    OFF(kvm_run, request_interrupt_window); OFF(kvm_run, immediate_exit); OFF(kvm_run, exit_reason);
    OFF(kvm_run, ready_for_interrupt_injection); OFF(kvm_run, if_flag); OFF(kvm_run, flags); OFF(kvm_run, cr8); OFF(kvm_run, apic_base);
    OFF(kvm_run, io); OFF(kvm_run, io.direction); OFF(kvm_run, io.size); OFF(kvm_run, io.port); OFF(kvm_run, io.count); OFF(kvm_run, io.data_offset);
    OFF(kvm_run, mmio.phys_addr); OFF(kvm_run, mmio.data); OFF(kvm_run, mmio.len); OFF(kvm_run, mmio.is_write);
    OFF(kvm_run, internal.suberror); OFF(kvm_run, internal.ndata); OFF(kvm_run, internal.data);
    OFF(kvm_run, system_event.type); OFF(kvm_run, system_event.ndata); OFF(kvm_run, system_event.data);

    IOCTL(KVM_GET_API_VERSION); IOCTL(KVM_CREATE_VM); IOCTL(KVM_GET_MSR_INDEX_LIST); IOCTL(KVM_CHECK_EXTENSION);
    IOCTL(KVM_GET_VCPU_MMAP_SIZE); IOCTL(KVM_GET_SUPPORTED_CPUID);
    IOCTL(KVM_CREATE_VCPU); IOCTL(KVM_GET_DIRTY_LOG); IOCTL(KVM_SET_USER_MEMORY_REGION); IOCTL(KVM_SET_TSS_ADDR);
    IOCTL(KVM_SET_IDENTITY_MAP_ADDR); IOCTL(KVM_CREATE_IRQCHIP); IOCTL(KVM_IRQ_LINE); IOCTL(KVM_GET_IRQCHIP); IOCTL(KVM_SET_IRQCHIP);
    IOCTL(KVM_CREATE_PIT2); IOCTL(KVM_SET_CLOCK); IOCTL(KVM_GET_CLOCK); IOCTL(KVM_GET_PIT2); IOCTL(KVM_SET_PIT2);
    IOCTL(KVM_ENABLE_CAP); IOCTL(KVM_CLEAR_DIRTY_LOG); IOCTL(KVM_IRQFD); IOCTL(KVM_IOEVENTFD);
    IOCTL(KVM_RUN); IOCTL(KVM_GET_REGS); IOCTL(KVM_SET_REGS); IOCTL(KVM_GET_SREGS); IOCTL(KVM_SET_SREGS);
    IOCTL(KVM_GET_MSRS); IOCTL(KVM_SET_MSRS); IOCTL(KVM_SET_SIGNAL_MASK); IOCTL(KVM_GET_FPU); IOCTL(KVM_SET_FPU);
    IOCTL(KVM_GET_LAPIC); IOCTL(KVM_SET_LAPIC); IOCTL(KVM_SET_CPUID2); IOCTL(KVM_GET_CPUID2); IOCTL(KVM_GET_MP_STATE);
    IOCTL(KVM_SET_MP_STATE); IOCTL(KVM_GET_VCPU_EVENTS); IOCTL(KVM_SET_VCPU_EVENTS); IOCTL(KVM_GET_DEBUGREGS);
    IOCTL(KVM_SET_DEBUGREGS); IOCTL(KVM_GET_XSAVE); IOCTL(KVM_SET_XSAVE); IOCTL(KVM_GET_XCRS); IOCTL(KVM_SET_XCRS);
    IOCTL(KVM_GET_XSAVE2);
    return 0;
}
