/* The vDSO: clock_gettime, gettimeofday, time and getcpu at CPL 3, with no trap to the
 * kernel. Time comes from the pvclock page the kernel maps read-only at VVAR_VA (KVM keeps it
 * current, or the kernel filled slot 0 from a calibrated TSC) plus RDTSC. Built -fPIC, linked
 * by vdso.lds into one PT_LOAD; it must need no relocations, so it uses only fixed addresses. */
typedef unsigned int u32;
typedef unsigned long u64;
typedef long s64;
typedef signed char s8;
typedef unsigned char u8;

struct pvclock { u32 version, pad0; u64 tsc_timestamp, system_time; u32 mul; s8 shift; u8 flags, pad[2]; };
struct vvar_data { u64 wall_sec, wall_nsec; u32 mode, pad; };
struct timespec { s64 tv_sec, tv_nsec; };
struct timeval { s64 tv_sec, tv_usec; };

#define VVAR_VA 0x7ffff0000000UL
#define PVCLOCK ((volatile struct pvclock *)VVAR_VA)
#define DATA ((volatile struct vvar_data *)(VVAR_VA + 4096))
#define STABLE 1
#define barrier() __asm__ volatile("" ::: "memory")

static long sys2(long nr, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

/* Monotonic ns, or -1 when the clock is not TSC-stable across vCPUs (then the kernel,
 * which reads the vCPU's own slot, answers instead). */
static s64 mono_ns(void)
{
    volatile struct pvclock *p = PVCLOCK;
    u32 v;
    u64 t;
    do {
        v = p->version;
        barrier();
        if (!(p->flags & STABLE)) return -1;
        u32 lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        u64 delta = (((u64)hi << 32) | lo) - p->tsc_timestamp;
        s8 shift = p->shift;
        if (shift < 0) delta >>= -shift;
        else delta <<= shift;
        t = p->system_time + (u64)(((unsigned __int128)delta * p->mul) >> 32);
        barrier();
    } while ((v & 1) || v != p->version);
    return (s64)t;
}

static int realtime_clock(long clk) { return clk == 0 || clk == 5 || clk == 8 || clk == 11; }

int __vdso_clock_gettime(long clk, struct timespec *ts)
{
    if (clk < 0 || clk > 11 || clk == 2 || clk == 3) return (int)sys2(228, clk, (long)ts);
    s64 ns = mono_ns();
    if (ns < 0) return (int)sys2(228, clk, (long)ts);
    if (realtime_clock(clk)) ns += DATA->wall_sec * 1000000000L + DATA->wall_nsec;
    ts->tv_sec = ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
    return 0;
}

int __vdso_gettimeofday(struct timeval *tv, void *tz)
{
    (void)tz;
    if (!tv) return 0;
    struct timespec ts;
    int r = __vdso_clock_gettime(0, &ts);
    if (r) return r;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

long __vdso_time(long *t)
{
    struct timespec ts;
    __vdso_clock_gettime(0, &ts);
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}

int __vdso_clock_getres(long clk, struct timespec *ts)
{
    (void)clk;
    if (ts) ts->tv_sec = 0, ts->tv_nsec = 1;
    return 0;
}

int __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
    (void)cache;
    return (int)sys2(309, (long)cpu, (long)node);
}

int clock_gettime(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
int clock_getres(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
