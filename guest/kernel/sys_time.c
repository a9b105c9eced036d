/* Time system calls. Most programs never make them: the vDSO answers clock_gettime,
 * gettimeofday and time at CPL 3. Sleeps block on the wait list with a deadline. */
#include "syscalls.h"
#include "clock.h"

struct timespec { s64 sec, nsec; };

/* CLOCK_REALTIME, _COARSE, _ALARM and TAI follow the wall clock; the rest are monotonic. */
static int is_realtime(u64 clk) { return clk == 0 || clk == 5 || clk == 8 || clk == 11; }
static u64 clock_read(u64 clk) { return is_realtime(clk) ? realtime_ns() : clock_ns(); }

static s64 put_ts(struct proc *p, u64 uaddr, u64 ns)
{
    struct timespec ts = { (s64)(ns / 1000000000UL), (s64)(ns % 1000000000UL) };
    return copy_to_user(p, uaddr, &ts, sizeof ts) < 0 ? -EFAULT : 0;
}

static s64 get_ts_ns(struct proc *p, u64 uaddr, u64 *ns)
{
    struct timespec ts;
    if (copy_from_user(p, &ts, uaddr, sizeof ts) < 0) return -EFAULT;
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000L) return -EINVAL;
    *ns = (u64)ts.sec * 1000000000UL + (u64)ts.nsec;
    return 0;
}

SYSCALL(clock_gettime) { (void)f; return put_ts(t->proc, A1, clock_read(A0)); }

SYSCALL(clock_getres)
{
    (void)f;
    return A1 ? put_ts(t->proc, A1, 1) : 0;
}

SYSCALL(gettimeofday)
{
    (void)f;
    if (!A0) return 0;
    u64 ns = realtime_ns();
    s64 tv[2] = { (s64)(ns / 1000000000UL), (s64)(ns % 1000000000UL / 1000) };
    return copy_to_user(t->proc, A0, tv, sizeof tv) < 0 ? -EFAULT : 0;
}

SYSCALL(time)
{
    (void)f;
    s64 s = (s64)(realtime_ns() / 1000000000UL);
    if (A0 && copy_to_user(t->proc, A0, &s, 8) < 0) return -EFAULT;
    return s;
}

/* Block t until the monotonic deadline (ns). */
s64 sleep_until(struct thread *t, u64 deadline)
{
    if (deadline <= clock_ns()) return 0;
    t->deadline = deadline;
    t->timeout_result = 0;
    t->futex_uaddr = 0;
    wait_add(t);
    return RET_BLOCK;
}

SYSCALL(nanosleep)
{
    u64 ns;
    s64 r = get_ts_ns(t->proc, A0, &ns);
    if (r) return r;
    (void)f;
    return sleep_until(t, clock_ns() + ns);
}

SYSCALL(clock_nanosleep)
{
    u64 ns;
    s64 r = get_ts_ns(t->proc, A2, &ns);
    if (r) return r;
    (void)f;
    if (A1 & 1) { /* TIMER_ABSTIME */
        if (is_realtime(A0)) { /* a wall-clock deadline: convert */
            u64 base = realtime_ns() - clock_ns();
            ns = ns > base ? ns - base : 0;
        }
        return sleep_until(t, ns);
    }
    return sleep_until(t, clock_ns() + ns);
}
