/* Scheduler. One run queue for the system; a vCPU runs a thread until the thread blocks or
 * exits (no preemption: there is no tick), then takes the next runnable one or halts.
 * There are no per-thread kernel stacks: a blocked thread is just its saved user context,
 * so a vCPU's only kernel stack is its own. Sleeping uses each vCPU's one-shot LAPIC timer,
 * armed for the earliest deadline of all waiting threads; IPIs wake idle vCPUs. */
#include "proc.h"
#include "apic.h"
#include "clock.h"
#include "syscalls.h"
#include "blk.h"
#include "net.h"

extern char user_page_start[], helper_copy_end[], helper_copylist_end[];
extern char helper_xsave_end[], helper_xrstor_end[], helper_fxsave_end[], helper_fxrstor_end[];

#define SLICE_NS 10000000UL /* time slice, only while threads wait for a vCPU */
static struct thread *runq_head, *runq_tail;
static void arm_timer(struct cpu *c);
static struct thread *waitq;
int live_threads;
static int next_id = 1;

/* Process and thread ids come from one counter; a process's first thread has tid == pid. */
int alloc_id(void) { return next_id++; }


static struct thread *runq_pop(void)
{
    struct thread *t = runq_head;
    if (t) {
        runq_head = t->next;
        if (!runq_head) runq_tail = NULL;
        t->next = NULL;
    }
    return t;
}

static void runq_remove(struct thread *t)
{
    for (struct thread **pp = &runq_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            if (runq_tail == t) runq_tail = prev;
            t->next = NULL;
            return;
        }
}

static void runq_push(struct thread *t)
{
    t->state = T_RUNNABLE;
    t->next = NULL;
    if (runq_tail) runq_tail->next = t;
    else runq_head = t;
    runq_tail = t;
}

void make_runnable(struct thread *t)
{
    t->state = T_RUNNABLE;
    if (t->on_cpu) return; /* its vCPU is finishing a helper for it and will carry on with it */
    runq_push(t);
    struct cpu *me = this_cpu();
    /* Woken by this vCPU's own timer while it idles (a sleep ending): it takes the thread as
     * soon as the interrupt returns, so waking another vCPU would only make it contend for
     * the lock and maybe take the thread away from its SIMD state. */
    if (me->idle && runq_head == t) return;
    for (int i = 0; i < ncpus; i++)
        if (cpus[i] != me && cpus[i]->idle) {
            cpus[i]->idle = 0; /* one wake-up per new runnable thread */
            apic_send_ipi(cpus[i]->apic_id, VEC_WAKE);
            return;
        }
    /* Every other vCPU is busy: ask one (in turn) to give way (maybe_preempt); the running
     * threads also get time slices from now on. */
    static int next_victim;
    for (int k = 0; k < ncpus; k++) {
        struct cpu *c = cpus[(next_victim + k) % ncpus];
        if (c != me && c->cur && c->online) {
            next_victim = (int)(c->index + 1);
            apic_send_ipi(c->apic_id, VEC_WAKE);
            return;
        }
    }
}

/* An interrupt arrived while t ran at CPL 3 and threads are waiting for a vCPU: t goes to
 * the back of the run queue (after its SIMD state is saved) and the first waiter runs. This
 * is the only preemption: it happens when a sleeper's timer fires or a wake-up IPI lands,
 * never on a tick. */
void maybe_preempt(struct thread *t, struct frame *f)
{
    struct cpu *c = this_cpu();
    if (runq_head && !c->slice_end) { /* threads started waiting: slice this one from now */
        c->slice_end = clock_ns() + SLICE_NS;
        arm_timer(c);
    }
    if (!runq_head || t->helper != H_NONE || (f->rip >= TRAMP_VA && f->rip < TRAMP_VA + PAGE_SIZE)) return;
    t->yielding = 1;
    block_current(t, f);
}

/* ---- waiting: futexes and sleeps share one list; deadlines are monotonic ns ---- */
static void arm_timer(struct cpu *c)
{
    u64 earliest = 0;
    for (struct thread *t = waitq; t; t = t->wnext)
        if (t->deadline && (!earliest || t->deadline < earliest)) earliest = t->deadline;
    if (c->cur && runq_head && c->slice_end) {
        u64 now = clock_ns();
        if (c->slice_end <= now) c->slice_end = now + SLICE_NS / 10; /* preemption was not possible: retry */
        if (!earliest || c->slice_end < earliest) earliest = c->slice_end;
    }
    if (earliest == c->timer_deadline) return;
    c->timer_deadline = earliest;
    if (!earliest) {
        apic_timer_oneshot(0);
        return;
    }
    u64 now = clock_ns();
    apic_timer_oneshot(earliest > now ? earliest - now : 1);
}

void wait_add(struct thread *t)
{
    t->state = T_BLOCKED;
    t->waiting = 1;
    t->wnext = waitq;
    waitq = t;
    if (t->deadline) arm_timer(this_cpu());
}

static void wait_remove(struct thread *t)
{
    if (!t->waiting) return;
    for (struct thread **pp = &waitq; *pp; pp = &(*pp)->wnext)
        if (*pp == t) {
            *pp = t->wnext;
            break;
        }
    t->waiting = 0;
    t->wnext = NULL;
}

void wake_thread(struct thread *t, s64 result)
{
    wait_remove(t);
    t->ctx.rax = (u64)result;
    make_runnable(t);
}

/* Wake the first n waiters on (process, address) whose bitset matches. */
int futex_wake(struct proc *p, u64 uaddr, int n, u32 bitset)
{
    int woken = 0;
    for (struct thread *t = waitq, *next; t && woken < n; t = next) {
        next = t->wnext;
        if (t->proc == p && t->futex_uaddr == uaddr && (t->futex_bitset & bitset)) {
            wake_thread(t, 0);
            woken++;
        }
    }
    return woken;
}

int futex_requeue(struct proc *p, u64 from, u64 to, int n)
{
    int moved = 0;
    for (struct thread *t = waitq; t && moved < n; t = t->wnext)
        if (t->proc == p && t->futex_uaddr == from) {
            t->futex_uaddr = to;
            moved++;
        }
    return moved;
}

int runq_nonempty(void) { return runq_head != NULL; }

void check_timers(void)
{
    u64 now = clock_ns();
    for (struct thread *t = waitq, *next; t; t = next) {
        next = t->wnext;
        if (t->deadline && t->deadline <= now) wake_thread(t, t->timeout_result);
    }
}

void timer_interrupt(void)
{
    struct cpu *c = this_cpu();
    apic_eoi();
    c->timer_deadline = 0;
    check_timers();
    arm_timer(c);
}

/* Mappings of p shrank (munmap, mprotect, MADV_DONTNEED): vCPUs running p's threads reload
 * CR3 at once (an IPI, handled without the big lock; not waited for: freed pages are never
 * reused, so the short window can only see old contents); vCPUs that merely still have p's
 * CR3 loaded reload it before they next run a thread. */
void tlb_shootdown(struct proc *p)
{
    struct cpu *me = this_cpu();
    for (int i = 0; i < ncpus; i++) {
        struct cpu *c = cpus[i];
        if (c == me) continue;
        c->tlb_stale = 1;
        if (c->cur && c->cur->proc == p) apic_send_ipi(c->apic_id, VEC_FLUSH);
    }
}

/* ---- switching ---- */
static void switch_to(struct cpu *c, struct thread *t, struct frame *f)
{
    t->on_cpu = 1;
    t->state = T_RUNNING;
    c->cur = t;
    c->slice_end = runq_head ? clock_ns() + SLICE_NS : 0;
    if (c->slice_end) arm_timer(c);
    if (read_cr3() != t->proc->pml4 || c->tlb_stale) write_cr3(t->proc->pml4);
    c->tlb_stale = 0;
    wrmsr(MSR_FS_BASE, t->fs_base);
    *f = t->ctx;
    fpu_load(t, f);
}

/* Put the next runnable thread's context into f (the vCPU's top frame), halting until there
 * is one. Called with big_lock held and no current thread. */
void schedule(struct frame *f)
{
    struct cpu *c = this_cpu();
    c->cur = NULL;
    for (;;) {
        struct thread *t = runq_pop();
        if (t) {
            switch_to(c, t, f);
            return;
        }
        c->idle = 1;
        arm_timer(c);
        spin_unlock(&big_lock);
        __asm__ volatile("sti; hlt; cli" ::: "memory");
        spin_lock(&big_lock);
        c->idle = 0;
        check_timers();
    }
}

/* First entry of a vCPU into the scheduler (entry.S cpu_loop_start). */
void schedule_start(struct frame *f)
{
    spin_lock(&big_lock);
    schedule(f);
    spin_unlock(&big_lock);
}

/* The current thread has been put on the wait list; its syscall-return context is in f.
 * Save its SIMD state first (a CPL-3 helper), then give the vCPU away. */
void block_current(struct thread *t, struct frame *f)
{
    t->ctx = *f;
    fpu_save_and_block(t, f);
}

/* ---- CPL-3 helpers ---- */
void run_helper(struct thread *t, struct frame *f, int kind, u64 entry, u64 rdi, u64 rsi, u64 rcx, u64 rbx)
{
    f->rip = entry;
    f->rdi = rdi;
    f->rsi = rsi;
    f->rcx = rcx;
    f->rbx = rbx;
    f->rax = ~0UL; /* XSAVE/XRSTOR feature mask: everything */
    f->rdx = ~0UL;
    f->cs = USER_CS;
    f->ss = USER_DS;
    f->rflags = 0x202;
    t->helper = kind;
}

void helper_done(struct thread *t, struct frame *f)
{
    u64 rip = f->rip;
    struct cpu *c = this_cpu();
    if (rip == tramp_va(helper_xsave_end) || rip == tramp_va(helper_fxsave_end)) {
        t->helper = H_NONE;
        t->on_cpu = 0;
        if (t->yielding) {
            t->yielding = 0;
            runq_push(t); /* no wake-ups: it gives way, nobody needs to make room for it */
            schedule(f);
            return;
        }
        if (t->state == T_RUNNABLE) { /* woken while saving: keep running it here */
            switch_to(c, t, f);
            return;
        }
        schedule(f);
    } else if (rip == tramp_va(helper_xrstor_end) || rip == tramp_va(helper_fxrstor_end)) {
        t->helper = H_NONE;
        *f = t->ctx;
    } else { /* a copy for a system call or for exec: resume the real context */
        t->helper = H_NONE;
        *f = t->helper_ret;
        struct proc *p = t->proc;
        if (p->loading && rip == tramp_va(helper_copylist_end)) { /* segments filled: final rights */
            p->loading = 0;
            for (int i = 0; i < p->nseg; i++) protect_range(p, p->seg_start[i], p->seg_end[i], p->seg_prot[i]);
        }
    }
}

struct thread *thread_new(struct proc *p)
{
    struct thread *t = kzalloc(sizeof *t);
    t->proc = p;
    t->tid = p->threads ? alloc_id() : p->pid;
    t->state = T_BLOCKED;
    t->pnext = p->threads;
    p->threads = t;
    p->nthreads++;
    live_threads++;
    if (fpu_thread_init(t) < 0) return NULL;
    return t;
}

static void thread_unlink(struct thread *t)
{
    struct proc *p = t->proc;
    if (t->io_op) blk_thread_gone(t);
    if (t->net_wait) net_thread_gone(t);
    for (struct thread **pp = &p->threads; *pp; pp = &(*pp)->pnext)
        if (*pp == t) {
            *pp = t->pnext;
            break;
        }
    for (int i = 0; i < ncpus; i++)
        if (cpus[i]->fpu_owner == t) cpus[i]->fpu_owner = NULL;
    t->state = T_DEAD;
    live_threads--;
    if (--p->nthreads == 0) workload_exited(p);
    kfree(t, sizeof *t);
}

/* The current thread ends (exit, or its process is going away); f gets the next context. */
void thread_finish(struct thread *t, struct frame *f)
{
    struct proc *p = t->proc;
    if (t->clear_child_tid && !p->exiting) {
        u32 zero = 0;
        if (copy_to_user(p, t->clear_child_tid, &zero, 4) == 0) futex_wake(p, t->clear_child_tid, 1, ~0U);
    }
    this_cpu()->cur = NULL;
    t->on_cpu = 0;
    thread_unlink(t);
    schedule(f);
}

/* Stop every thread of p: waiting and queued ones end now, running ones at their next
 * trap (an IPI makes that prompt). */
void proc_kill(struct proc *p, int status)
{
    if (p->exiting) return;
    p->exiting = 1;
    p->exit_status = status;
    struct cpu *me = this_cpu();
    for (struct thread *t = p->threads, *next; t; t = next) {
        next = t->pnext;
        if (t->on_cpu) {
            for (int i = 0; i < ncpus; i++)
                if (cpus[i] != me && cpus[i]->cur == t) apic_send_ipi(cpus[i]->apic_id, VEC_WAKE);
            continue;
        }
        wait_remove(t);
        runq_remove(t);
        thread_unlink(t);
    }
}
