/* System-call dispatch and the small calls that only report fixed facts. Arguments follow the
 * x86-64 Linux ABI; results go back in rax; the return goes to RCX with RFLAGS from R11, by
 * IRETQ on both routes (kvm_pvm's #GP trap and the native SYSCALL entry). */
#include "syscalls.h"
#include "clock.h"

#define X(name) SYSCALL(name);
#define SYSCALL_LIST                                                                                        \
    X(read) X(write) X(open) X(close) X(stat) X(fstat) X(lseek) X(mmap) X(mprotect) X(munmap) X(brk)         \
    X(rt_sigaction) X(rt_sigprocmask) X(ioctl) X(pread64) X(writev) X(access) X(sched_yield) X(mremap)       \
    X(madvise) X(nanosleep) X(getpid) X(clone) X(exit) X(kill) X(uname) X(fcntl) X(getcwd) X(readlink)        \
    X(gettimeofday) X(getrlimit) X(getuid) X(getppid) X(sigaltstack) X(prctl) X(arch_prctl) X(gettid)        \
    X(tkill) X(time) X(futex) X(sched_setaffinity) X(sched_getaffinity) X(set_tid_address) X(clock_gettime)  \
    X(clock_getres) X(clock_nanosleep) X(exit_group) X(tgkill) X(openat) X(newfstatat) X(readlinkat)         \
    X(faccessat) X(set_robust_list) X(prlimit64) X(getcpu) X(getrandom) X(enosys_quiet) X(pwrite64) X(fsync)    \
    X(dup) X(dup2) X(dup3) X(ftruncate)
SYSCALL_LIST
#undef X

static const syscall_fn table[] = {
    [0] = sys_read, [1] = sys_write, [2] = sys_open, [3] = sys_close, [4] = sys_stat, [5] = sys_fstat,
    [6] = sys_stat /* lstat: no symlinks to follow */, [8] = sys_lseek, [9] = sys_mmap, [10] = sys_mprotect,
    [11] = sys_munmap, [12] = sys_brk, [13] = sys_rt_sigaction, [14] = sys_rt_sigprocmask, [16] = sys_ioctl,
    [17] = sys_pread64, [18] = sys_pwrite64, [20] = sys_writev, [21] = sys_access, [24] = sys_sched_yield, [32] = sys_dup, [33] = sys_dup2, [25] = sys_mremap,
    [28] = sys_madvise, [35] = sys_nanosleep, [39] = sys_getpid, [56] = sys_clone, [60] = sys_exit,
    [62] = sys_kill, [63] = sys_uname, [72] = sys_fcntl, [74] = sys_fsync, [75] = sys_fsync /* fdatasync */, [77] = sys_ftruncate, [79] = sys_getcwd, [89] = sys_readlink,
    [96] = sys_gettimeofday, [97] = sys_getrlimit, [102] = sys_getuid, [104] = sys_getuid, [107] = sys_getuid,
    [108] = sys_getuid, [110] = sys_getppid, [131] = sys_sigaltstack, [157] = sys_prctl, [158] = sys_arch_prctl,
    [186] = sys_gettid, [200] = sys_tkill, [201] = sys_time, [202] = sys_futex, [203] = sys_sched_setaffinity,
    [204] = sys_sched_getaffinity, [218] = sys_set_tid_address, [228] = sys_clock_gettime,
    [229] = sys_clock_getres, [230] = sys_clock_nanosleep, [231] = sys_exit_group, [234] = sys_tgkill,
    [257] = sys_openat, [262] = sys_newfstatat, [267] = sys_readlinkat, [269] = sys_faccessat,
    [273] = sys_set_robust_list, [292] = sys_dup3, [302] = sys_prlimit64, [309] = sys_getcpu, [318] = sys_getrandom,
    [334] = sys_enosys_quiet /* rseq */, [435] = sys_enosys_quiet /* clone3: glibc falls back to clone */,
    [439] = sys_faccessat /* faccessat2 */,
};

extern const char *const syscall_names[];
extern const int syscall_names_count;
static u8 reported[512];

static __attribute__((noinline)) s64 unsupported(u64 nr)
{
    if (nr >= sizeof reported || !reported[nr]) {
        if (nr < sizeof reported) reported[nr] = 1;
        const char *name = (s64)nr < syscall_names_count && syscall_names[nr] ? syscall_names[nr] : "?";
        kprintf("ferry-guest: unsupported syscall %lu (%s)\n", nr, name);
    }
    return -ENOSYS;
}

/* A system call from user mode (entry.S syscall_common, both routes), kept to few
 * instructions: on kvm_pvm each costs ~0.5-1 us. */
void syscall_trap(struct frame *f)
{
    spin_lock(&big_lock);
    struct thread *t = this_cpu()->cur;
    if (t->proc->exiting) { /* exit_group or a fault in another thread */
        thread_finish(t, f);
        spin_unlock(&big_lock);
        return;
    }
    /* Make f the context the call returns to: RIP from RCX, RFLAGS from R11 (arithmetic
     * flags and DF only; interrupts on). CS and SS are the user's already (the #GP frame
     * from CPL 3; the native stub pushes them). */
    f->rip = f->rcx;
    f->rflags = (f->r11 & 0xcd5) | 0x202;
    u64 nr = f->rax;
    s64 r = nr < ARRAY_SIZE(table) && table[nr] ? table[nr](t, f) : unsupported(nr);
    if (r == RET_BLOCK) block_current(t, f);
    else if (r != RET_NOTOUCH) f->rax = (u64)r;
    spin_unlock(&big_lock);
}

SYSCALL(enosys_quiet) { (void)t, (void)f; return -ENOSYS; }

SYSCALL(rt_sigaction)
{
    /* recorded nowhere, never delivered: report the default action as the old one */
    u64 zero[4] = { 0 };
    if (A2 && copy_to_user(t->proc, A2, zero, sizeof zero) < 0) return -EFAULT;
    return 0;
}

SYSCALL(rt_sigprocmask)
{
    u64 zero = 0;
    if (A2 && copy_to_user(t->proc, A2, &zero, 8) < 0) return -EFAULT;
    return 0;
}

SYSCALL(sigaltstack)
{
    u64 old[3] = { 0, 2 /* SS_DISABLE */, 0 };
    if (A1 && copy_to_user(t->proc, A1, old, sizeof old) < 0) return -EFAULT;
    (void)f;
    return 0;
}

SYSCALL(getpid) { (void)f; return t->proc->pid; }
SYSCALL(gettid) { (void)f; return t->tid; }
SYSCALL(getppid) { (void)t, (void)f; return 0; }
SYSCALL(getuid) { (void)t, (void)f; return 0; }
SYSCALL(prctl) { (void)t, (void)f; return 0; }
SYSCALL(set_robust_list) { (void)t, (void)f; return 0; }
SYSCALL(sched_setaffinity) { (void)t, (void)f; return 0; }

SYSCALL(uname)
{
    char u[6][65];
    memset(u, 0, sizeof u);
    strncpy_z(u[0], "Linux", 65);
    strncpy_z(u[1], "ferry-guest", 65);
    strncpy_z(u[2], "6.1.0-ferry", 65);
    strncpy_z(u[3], "#1 SMP", 65);
    strncpy_z(u[4], "x86_64", 65);
    strncpy_z(u[5], "(none)", 65);
    (void)f;
    return copy_to_user(t->proc, A0, u, sizeof u) < 0 ? -EFAULT : 0;
}

#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
SYSCALL(arch_prctl)
{
    (void)f;
    if (A0 == ARCH_SET_FS) {
        if (A1 >= 0x800000000000UL) return -EPERM;
        t->fs_base = A1;
        wrmsr(MSR_FS_BASE, A1);
        return 0;
    }
    if (A0 == ARCH_GET_FS) return copy_to_user(t->proc, A1, &t->fs_base, 8) < 0 ? -EFAULT : 0;
    return -EINVAL;
}

static s64 put_rlimit(struct proc *p, u64 res, u64 uaddr)
{
    u64 lim[2] = { ~0UL, ~0UL };
    if (res == 3) lim[0] = STACK_SIZE;           /* RLIMIT_STACK */
    if (res == 7) lim[0] = lim[1] = MAX_FDS;     /* RLIMIT_NOFILE */
    return copy_to_user(p, uaddr, lim, sizeof lim) < 0 ? -EFAULT : 0;
}

SYSCALL(getrlimit) { (void)f; return put_rlimit(t->proc, A0, A1); }
SYSCALL(prlimit64) { (void)f; return A3 ? put_rlimit(t->proc, A1, A3) : 0; }

SYSCALL(sched_getaffinity)
{
    u64 mask = ncpus >= 64 ? ~0UL : (1UL << ncpus) - 1;
    if (A1 < 8) return -EINVAL;
    (void)f;
    return copy_to_user(t->proc, A2, &mask, 8) < 0 ? -EFAULT : 8;
}

SYSCALL(getcpu)
{
    u32 cpu = this_cpu()->index, node = 0;
    if (A0 && copy_to_user(t->proc, A0, &cpu, 4) < 0) return -EFAULT;
    if (A1 && copy_to_user(t->proc, A1, &node, 4) < 0) return -EFAULT;
    (void)f;
    return 0;
}

SYSCALL(getrandom)
{
    u8 buf[256];
    u64 n = MIN(A1, sizeof buf);
    for (u64 i = 0; i < n; i += 8) {
        u64 v = 0;
        u8 ok = 0;
        for (int k = 0; k < 10 && !ok; k++) __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
        if (!ok) v = rdtsc() * 0x9E3779B97F4A7C15UL;
        memcpy(buf + i, &v, MIN(8, n - i));
    }
    (void)f;
    return copy_to_user(t->proc, A0, buf, n) < 0 ? -EFAULT : (s64)n;
}
