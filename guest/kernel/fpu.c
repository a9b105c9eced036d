/* User SIMD state. XSAVE/XRSTOR fail at CPL 0 on kvm_pvm but work at CPL 3, so the kernel
 * never executes them: a thread's state is saved by a CPL-3 helper (entry.S) into a per-thread
 * area mapped in its own address space, when the thread blocks, and restored by another helper
 * when a vCPU runs a thread whose state its registers do not hold. The kernel itself uses no
 * SIMD registers (-mgeneral-regs-only), so user state stays live across traps. */
#include "proc.h"

extern char helper_xsave[], helper_xrstor[], helper_fxsave[], helper_fxrstor[];
static int use_xsave;
#define XSAVE_AREA_PAGES 3 /* AVX-512 needs 2.7 KiB; room for larger host feature sets */

void fpu_cpu_init(void)
{
    u32 a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    u64 cr0, cr4;
    __asm__ volatile("mov %%cr0, %0; mov %%cr4, %1" : "=r"(cr0), "=r"(cr4));
    cr0 = (cr0 & ~(1UL << 2)) | (1UL << 1) | (1UL << 5); /* EM off, MP, NE */
    cr4 |= (1UL << 9) | (1UL << 10);                      /* OSFXSR, OSXMMEXCPT */
    use_xsave = (c >> 26) & 1;
    if (use_xsave) cr4 |= 1UL << 18;                      /* OSXSAVE */
    __asm__ volatile("mov %0, %%cr0; mov %1, %%cr4" ::"r"(cr0), "r"(cr4));
    if (use_xsave) {
        cpuid(0xD, 0, &a, &b, &c, &d);
        u64 xcr0 = (a & 0xe7) | 3; /* x87, SSE, AVX, AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM) */
        __asm__ volatile("xsetbv" ::"c"(0), "a"((u32)xcr0), "d"((u32)(xcr0 >> 32)));
    }
}

/* Map the thread's save area (fresh, so zero: an XSAVE header with XSTATE_BV = 0 means
 * "initial state") and set MXCSR to its reset value, which XRSTOR loads regardless. */
int fpu_thread_init(struct thread *t)
{
    struct proc *p = t->proc;
    u64 va = XSAVE_VA + p->next_xsave_slot++ * 0x4000;
    u64 first = 0;
    for (int i = 0; i < XSAVE_AREA_PAGES; i++) {
        u64 pa = alloc_page();
        if (!pa || map_page(p->pml4, va + i * PAGE_SIZE, pa, PTE_U | PTE_W) < 0) return -1;
        if (!i) first = pa;
    }
    u32 *area = phys_to_virt(first);
    area[6] = 0x1f80;  /* MXCSR */
    area[7] = 0xffff;  /* MXCSR_MASK (ignored on restore) */
    t->xsave_va = va;
    return 0;
}

void fpu_save_and_block(struct thread *t, struct frame *f)
{
    run_helper(t, f, H_SAVE_THEN_BLOCK, tramp_va(use_xsave ? helper_xsave : helper_fxsave), t->xsave_va, 0, 0, 0);
}

/* f holds t's context; if this vCPU's registers hold someone else's SIMD state, run the
 * restore helper first (helper_done then resumes t->ctx). */
int fpu_load(struct thread *t, struct frame *f)
{
    struct cpu *c = this_cpu();
    for (int i = 0; i < ncpus; i++)
        if (cpus[i] != c && cpus[i]->fpu_owner == t) cpus[i]->fpu_owner = NULL; /* stale there now */
    if (c->fpu_owner == t) return 0;
    c->fpu_owner = t;
    run_helper(t, f, H_RESTORE, tramp_va(use_xsave ? helper_xrstor : helper_fxrstor), t->xsave_va, 0, 0, 0);
    return 1;
}
