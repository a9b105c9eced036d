/* Threads (clone with CLONE_VM|CLONE_THREAD), futexes, exits and the scheduler calls. */
#include "syscalls.h"
#include "clock.h"

#define CLONE_VM 0x100
#define CLONE_SETTLS 0x80000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_CHILD_SETTID 0x1000000
#define CLONE_THREAD 0x10000

s64 sleep_until(struct thread *t, u64 deadline);

SYSCALL(clone)
{
    struct proc *p = t->proc;
    u64 flags = A0;
    if (!(flags & CLONE_VM) || !(flags & CLONE_THREAD)) return -ENOSYS; /* no fork: one program, one process */
    struct thread *c = thread_new(p);
    if (!c) return -ENOMEM;
    c->ctx = *f;
    c->ctx.rax = 0;
    if (A1) c->ctx.rsp = A1;
    c->fs_base = (flags & CLONE_SETTLS) ? A4 : t->fs_base;
    u32 tid = (u32)c->tid;
    if (flags & CLONE_PARENT_SETTID) copy_to_user(p, A2, &tid, 4);
    if (flags & CLONE_CHILD_SETTID) copy_to_user(p, A3, &tid, 4);
    if (flags & CLONE_CHILD_CLEARTID) c->clear_child_tid = A3;
    make_runnable(c);
    return c->tid;
}

SYSCALL(exit)
{
    struct proc *p = t->proc;
    if (p->nthreads == 1) p->exit_status = (int)(A0 & 0xff);
    thread_finish(t, f);
    return RET_NOTOUCH;
}

SYSCALL(exit_group)
{
    proc_kill(t->proc, (int)(A0 & 0xff));
    thread_finish(t, f);
    return RET_NOTOUCH;
}

/* kill/tkill/tgkill: only a program signalling itself (abort, raise) is meaningful here;
 * there are no handlers, so any real signal ends the program as its default action would. */
static s64 signal_self(struct thread *t, struct frame *f, u64 sig)
{
    if (sig == 0) return 0;
    if (sig == 17 || sig == 23 || sig == 28) return 0; /* SIGCHLD, SIGURG, SIGWINCH: ignored */
    kprintf("ferry-guest: pid %d (%s) killed by signal %lu\n", t->proc->pid, t->proc->name, sig);
    proc_kill(t->proc, 128 + (int)sig);
    thread_finish(t, f);
    return RET_NOTOUCH;
}

SYSCALL(kill) { return signal_self(t, f, A1); }
SYSCALL(tkill) { return signal_self(t, f, A1); }
SYSCALL(tgkill) { return signal_self(t, f, A2); }

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_CLOCK_REALTIME 256

SYSCALL(futex)
{
    struct proc *p = t->proc;
    u64 uaddr = A0, op = A1 & 127, timeout = A3;
    u32 val = (u32)A2, bitset = (u32)A5;
    switch (op) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
        if (op == FUTEX_WAIT) bitset = ~0U;
        if (!bitset) return -EINVAL;
        if (uaddr & 3) return -EINVAL;
        u32 *word = user_ptr(p, uaddr, 0);
        if (!word) return -EFAULT;
        if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != val) return -EAGAIN;
        u64 deadline = 0;
        if (timeout) {
            s64 ts[2];
            if (copy_from_user(p, ts, timeout, 16) < 0) return -EFAULT;
            if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000L) return -EINVAL;
            u64 ns = (u64)ts[0] * 1000000000UL + (u64)ts[1];
            if (op == FUTEX_WAIT) deadline = clock_ns() + ns; /* relative */
            else if (A1 & FUTEX_CLOCK_REALTIME) {
                u64 base = realtime_ns() - clock_ns();
                deadline = ns > base ? ns - base : 1;
            } else deadline = ns ? ns : 1;
            if (deadline <= clock_ns()) return -ETIMEDOUT;
        }
        t->futex_uaddr = uaddr;
        t->futex_bitset = bitset;
        t->deadline = deadline;
        t->timeout_result = -ETIMEDOUT;
        wait_add(t);
        return RET_BLOCK;
    }
    case FUTEX_WAKE:
        return futex_wake(p, uaddr, (int)val, ~0U);
    case FUTEX_WAKE_BITSET:
        return futex_wake(p, uaddr, (int)val, bitset ? bitset : ~0U);
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
        if (op == FUTEX_CMP_REQUEUE) {
            u32 *word = user_ptr(p, uaddr, 0);
            if (!word) return -EFAULT;
            if (*word != (u32)A5) return -EAGAIN;
        }
        int woken = futex_wake(p, uaddr, (int)val, ~0U);
        extern int futex_requeue(struct proc *, u64, u64, int);
        return woken + futex_requeue(p, uaddr, A4, (int)timeout /* val2 */);
    }
    }
    (void)f;
    return -ENOSYS;
}

SYSCALL(sched_yield)
{
    (void)f;
    extern int runq_nonempty(void);
    if (!runq_nonempty()) return 0;
    t->yielding = 1;
    f->rax = 0;
    block_current(t, f);
    return RET_NOTOUCH;
}

SYSCALL(set_tid_address)
{
    (void)f;
    t->clear_child_tid = A0;
    return t->tid;
}
