/* IDT, per-vCPU GDT/TSS, and the dispatcher every interrupt, exception and system call
 * passes through. All kernel state is under big_lock, taken here on every entry. */
#include "proc.h"
#include "apic.h"
#include "virtio.h"

spinlock_t big_lock;
extern char probe_hlt[], probe_ud2[];
extern char helper_copy_end[], helper_copylist_end[], helper_xsave_end[], helper_xrstor_end[];
extern char helper_fxsave_end[], helper_fxrstor_end[];
__attribute__((noreturn)) void probe_resume(int result);
int probing;

extern u64 idt[512]; /* entry.S */

static const char *const vector_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?", "#TS", "#NP", "#SS", "#GP", "#PF", "?",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "?", "?", "?", "?", "?", "?", "#HV", "#VC", "#SX", "?",
};

/* GDT (kernel code/data, user data/code in the order SYSCALL's STAR needs, TSS), IDT, and
 * the SYSCALL MSRs, for the vCPU running this. */
void cpu_tables_init(struct cpu *c)
{
    c->gdt[0] = 0;
    c->gdt[1] = 0x00209A0000000000UL; /* 0x08 kernel code */
    c->gdt[2] = 0x00CF92000000FFFFUL; /* 0x10 kernel data */
    c->gdt[3] = 0x00CFF2000000FFFFUL; /* 0x1b user data */
    c->gdt[4] = 0x0020FA0000000000UL; /* 0x23 user code */
    u64 tss = (u64)&c->tss, lim = sizeof(struct tss) - 1;
    c->gdt[5] = (lim & 0xffff) | ((tss & 0xffffff) << 16) | (0x89UL << 40) | (((tss >> 24) & 0xff) << 56);
    c->gdt[6] = tss >> 32;
    c->tss.rsp0 = c->kstack_top;
    c->tss.iomap_base = sizeof(struct tss);
    struct { u16 limit; u64 base; } __attribute__((packed)) gp = { sizeof c->gdt - 1, (u64)c->gdt },
                                                           ip = { sizeof idt - 1, (u64)idt };
    __asm__ volatile("lgdt %0; lidt %1; ltr %w2" ::"m"(gp), "m"(ip), "r"(TSS_SEL) : "memory");
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1); /* SCE */
    wrmsr(MSR_STAR, ((u64)0x10 << 48) | ((u64)KERNEL_CS << 32));
    wrmsr(MSR_SFMASK, 0x47700); /* TF DF IF IOPL AC NT */
    wrmsr(MSR_KERNEL_GS_BASE, (u64)c); /* only the native SYSCALL stub swaps it in */
    wrmsr(MSR_GS_BASE, 0);
}

static const char *signal_for(u64 vec, int *sig)
{
    switch (vec) {
    case 0: case 16: case 19: *sig = 8; return "SIGFPE";
    case 1: case 3: *sig = 5; return "SIGTRAP";
    case 6: *sig = 4; return "SIGILL";
    case 17: *sig = 7; return "SIGBUS";
    default: *sig = 11; return "SIGSEGV";
    }
}

void report_fault(struct frame *f, const char *who)
{
    const char *name = f->vector < 32 ? vector_names[f->vector] : "irq";
    kprintf("ferry-guest: fault vector=%lu (%s) rip=%p cr2=%p error=0x%lx cpu=%u %s\n", f->vector, name,
            (void *)f->rip, (void *)read_cr2(), f->error, this_cpu()->index, who);
}

static void user_fault(struct thread *t, struct frame *f)
{
    /* A fault inside a CPL-3 helper that copies for a system call: the call fails, the
     * program carries on (EFAULT, as Linux does for a bad buffer). */
    if (t->helper == H_SYSRET && f->rip >= TRAMP_VA && f->rip < TRAMP_VA + PAGE_SIZE) {
        *f = t->helper_ret;
        f->rax = (u64)-EFAULT;
        t->helper = H_NONE;
        return;
    }
    int sig;
    const char *sname = signal_for(f->vector, &sig);
    char who[96];
    ksnprintf(who, sizeof who, "pid=%d name=%s %s", t->proc->pid, t->proc->name, sname);
    report_fault(f, who);
    proc_kill(t->proc, 128 + sig);
    thread_finish(t, f);
}

static int helper_end_rip(u64 rip)
{
    return rip == tramp_va(helper_copy_end) || rip == tramp_va(helper_copylist_end) ||
           rip == tramp_va(helper_xsave_end) || rip == tramp_va(helper_xrstor_end) ||
           rip == tramp_va(helper_fxsave_end) || rip == tramp_va(helper_fxrstor_end);
}

static void user_trap(struct cpu *c, struct frame *f)
{
    struct thread *t = c->cur;
    if (!t) panic("user trap %lu on cpu %u with no thread", f->vector, c->index);
    if (t->proc->exiting) { /* exit_group or a fault in another thread */
        thread_finish(t, f);
        return;
    }
    switch (f->vector) {
    case 13: /* system calls went to syscall_trap */
        if (helper_end_rip(f->rip)) {
            helper_done(t, f);
            return;
        }
        break;
    case 14: {
        u64 cr2 = read_cr2();
        if (handle_user_fault(t->proc, cr2, (f->error >> 1) & 1) == 0) return;
        break;
    }
    case VEC_TIMER:
        timer_interrupt();
        maybe_preempt(t, f);
        return;
    case VEC_WAKE:
        apic_eoi();
        maybe_preempt(t, f);
        return;
    case VEC_SPURIOUS:
        return;
    }
    if (virtio_is_vector(f->vector)) { /* a disk finished requests: maybe a waiter can run */
        virtio_interrupt(f->vector);
        maybe_preempt(t, f);
        return;
    }
    if (f->vector >= 32) { /* some device interrupt we never asked for */
        apic_eoi();
        return;
    }
    user_fault(t, f);
}

void trap(struct frame *f)
{
    if (probing) {
        if (f->vector == 13 && f->rip == tramp_va(probe_hlt)) probe_resume(1);
        if (f->vector == 6 && f->rip == tramp_va(probe_ud2)) probe_resume(2);
    }
    if (f->vector == VEC_FLUSH) { /* tlb_shootdown(): needs no lock, so never waits for one */
        write_cr3(read_cr3());
        apic_eoi();
        return;
    }
    spin_lock(&big_lock);
    struct cpu *c = this_cpu();
    if (f->cs & 3) {
        user_trap(c, f);
        /* the thread now in f (maybe another one) runs next */
    } else if (f->vector == VEC_TIMER) {
        timer_interrupt();
    } else if (f->vector == VEC_WAKE) {
        apic_eoi();
    } else if (f->vector == VEC_SPURIOUS) {
    } else if (virtio_is_vector(f->vector)) {
        virtio_interrupt(f->vector);
    } else if (f->vector >= 32) {
        apic_eoi();
    } else {
        report_fault(f, "in kernel");
        panic("fault in kernel");
    }
    spin_unlock(&big_lock);
}
