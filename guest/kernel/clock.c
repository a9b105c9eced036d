/* Monotonic and wall-clock time. With kvmclock each vCPU registers its own pvclock slot in
 * pvclock_page (MSR_KVM_SYSTEM_TIME_NEW); KVM keeps it current, across migration too. Without
 * kvmclock the kernel fills slot 0 itself from a TSC calibrated against the PIT. */
#include "clock.h"

#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

struct pvclock pvclock_page[4096 / sizeof(struct pvclock)] __attribute__((aligned(4096)));
union vvar_page vvar_page __attribute__((aligned(4096)));
static struct { u32 version, sec, nsec; } wall __attribute__((aligned(16)));
static u64 last_ns; /* the largest time handed out: readings never go backwards */

static int has_kvmclock(void)
{
    u32 a, b, c, d;
    cpuid(0x40000000, 0, &a, &b, &c, &d);
    if (b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d) return 0; /* "KVMKVMKVM\0\0\0" */
    cpuid(0x40000001, 0, &a, &b, &c, &d);
    return (a >> 3) & 1; /* KVM_FEATURE_CLOCKSOURCE2 */
}

/* PIT channel 0 in mode 2, polled through the latch command: counts at 1.193182 MHz. */
static u64 tsc_hz_from_pit(void)
{
    outb(0x43, 0x34);
    outb(0x40, 0xff);
    outb(0x40, 0xff);
    u64 t0 = rdtsc(), elapsed = 0;
    u32 prev = 0xffff;
    for (int spins = 0; elapsed < 11932 && spins < 2000000; spins++) {
        outb(0x43, 0x00);
        u32 lo = inb(0x40), hi = inb(0x40);
        u32 cur = lo | (hi << 8);
        elapsed += (prev - cur) & 0xffff;
        prev = cur;
    }
    u64 t1 = rdtsc();
    if (elapsed < 11932) return 0;
    return (t1 - t0) * 1193182UL / elapsed;
}

static u32 cmos(u8 reg)
{
    outb(0x70, reg);
    u32 v = inb(0x71);
    outb(0x70, 0x0B);
    if (!(inb(0x71) & 4)) v = (v & 15) + (v >> 4) * 10; /* BCD */
    return v;
}

static u64 rtc_seconds(void)
{
    u64 s = cmos(0), m = cmos(2), h = cmos(4), day = cmos(7), mon = cmos(8), year = cmos(9) + 2000;
    /* days from civil (Howard Hinnant's algorithm) */
    u64 y = year - (mon <= 2);
    u64 era = y / 400, yoe = y - era * 400;
    u64 doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    u64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64 days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + m * 60 + s;
}

void clock_init(void)
{
    if (has_kvmclock()) {
        vvar_data.mode = CLOCK_KVM;
        clock_init_cpu(0);
        wrmsr(MSR_KVM_WALL_CLOCK_NEW, virt_to_phys(&wall));
        u32 v;
        do {
            v = wall.version;
            barrier();
            vvar_data.wall_sec = wall.sec;
            vvar_data.wall_nsec = wall.nsec;
            barrier();
        } while ((v & 1) || v != wall.version);
        return;
    }
    vvar_data.mode = CLOCK_TSC;
    u64 hz = tsc_hz_from_pit();
    if (!hz) {
        kprintf("ferry-guest: no kvmclock and no PIT; assuming a 2 GHz TSC\n");
        hz = 2000000000UL;
    }
    u64 h = hz;
    int shift = 0;
    while (h <= 1000000000UL) h <<= 1, shift++;
    struct pvclock *p = &pvclock_page[0];
    p->tsc_to_system_mul = (u32)((1000000000UL << 32) / h);
    p->tsc_shift = (s8)shift;
    p->system_time = 0;
    p->tsc_timestamp = rdtsc();
    p->flags = PVCLOCK_STABLE;
    vvar_data.wall_sec = rtc_seconds();
}

void clock_init_cpu(int index)
{
    if (vvar_data.mode == CLOCK_KVM) wrmsr(MSR_KVM_SYSTEM_TIME_NEW, virt_to_phys(&pvclock_page[index]) | 1);
}

static u64 pvclock_read(volatile struct pvclock *p)
{
    u32 v;
    u64 t;
    do {
        v = p->version;
        barrier();
        u64 delta = rdtsc() - p->tsc_timestamp;
        s8 shift = p->tsc_shift;
        if (shift < 0) delta >>= -shift;
        else delta <<= shift;
        t = p->system_time + (u64)(((unsigned __int128)delta * p->tsc_to_system_mul) >> 32);
        barrier();
    } while ((v & 1) || v != p->version);
    return t;
}

u64 clock_ns(void)
{
    int slot = vvar_data.mode == CLOCK_KVM ? (int)this_cpu()->index : 0;
    u64 t = pvclock_read(&pvclock_page[slot]);
    u64 last = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);
    while (t > last)
        if (__atomic_compare_exchange_n(&last_ns, &last, t, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return t;
    return last;
}

u64 realtime_ns(void) { return vvar_data.wall_sec * 1000000000UL + vvar_data.wall_nsec + clock_ns(); }

const char *clock_source(void) { return vvar_data.mode == CLOCK_KVM ? "kvmclock" : "tsc"; }
