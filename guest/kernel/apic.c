/* Local APIC. The timer runs in one-shot count mode only: no periodic tick (each tick would
 * cost ~37 us of emulated kernel code) and no TSC-deadline mode (a TSC value means nothing
 * after migration to another host). */
#include "apic.h"
#include "clock.h"

#define REG_ID 0x20
#define REG_EOI 0xB0
#define REG_SVR 0xF0
#define REG_ICR_LO 0x300
#define REG_ICR_HI 0x310
#define REG_LVT_TIMER 0x320
#define REG_LVT_LINT0 0x350
#define REG_LVT_LINT1 0x360
#define REG_LVT_ERROR 0x370
#define REG_TIMER_INIT 0x380
#define REG_TIMER_CUR 0x390
#define REG_TIMER_DIV 0x3E0

static int x2apic;
static u64 ticks_per_10ms;

static u32 rd(u32 reg)
{
    if (x2apic) return (u32)rdmsr(0x800 + (reg >> 4));
    return *(volatile u32 *)phys_to_virt(0xFEE00000UL + reg);
}

static void wr(u32 reg, u32 v)
{
    if (x2apic) wrmsr(0x800 + (reg >> 4), v);
    else *(volatile u32 *)phys_to_virt(0xFEE00000UL + reg) = v;
}

void apic_init_cpu(void)
{
    u32 a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    x2apic = (c >> 21) & 1;
    u64 base = rdmsr(0x1B);
    base |= 1UL << 11;
    if (x2apic) base |= 1UL << 10;
    wrmsr(0x1B, base);
    wr(REG_SVR, 0x100 | 0xFF); /* enabled, spurious vector 0xFF */
    wr(REG_LVT_LINT0, 1 << 16);
    wr(REG_LVT_LINT1, 1 << 16);
    wr(REG_LVT_ERROR, 1 << 16);
    wr(REG_TIMER_DIV, 0x3); /* divide by 16 */
    wr(REG_LVT_TIMER, (1 << 16) | 0x20);
}

u32 apic_id(void) { return x2apic ? rd(REG_ID) : rd(REG_ID) >> 24; }
void apic_eoi(void) { wr(REG_EOI, 0); }

static void icr(u32 dest, u32 lo)
{
    if (x2apic) {
        wrmsr(0x830, ((u64)dest << 32) | lo);
        return;
    }
    wr(REG_ICR_HI, dest << 24);
    wr(REG_ICR_LO, lo);
    while (rd(REG_ICR_LO) & (1 << 12)) cpu_relax();
}

void apic_send_ipi(u32 dest, u8 vector) { icr(dest, 0x4000 | vector); }
void apic_send_init(u32 dest) { icr(dest, 0x4500); }
void apic_send_sipi(u32 dest, u8 page) { icr(dest, 0x4600 | page); }

/* The timer's rate (divide by 16), once at boot on the BSP. From CPUID 0x40000010 (EBX: bus
 * kHz) when the hypervisor has that leaf; else counted over 0.3 ms of the clock and, when within
 * 10% of 62.5 MHz, taken as exactly that: KVM's in-kernel APIC and QEMU's both run the bus at
 * 1 GHz. Counting over 10 ms cost 10 ms of boot; the short window is off by the few
 * microseconds one emulated clock read takes (a few %), and the snap removes even that. */
void apic_timer_calibrate(void)
{
    u32 a, b, c, d;
    cpuid(0x40000000, 0, &a, &b, &c, &d);
    if (a >= 0x40000010 && a < 0x40000100) {
        cpuid(0x40000010, 0, &a, &b, &c, &d);
        if (b) {
            ticks_per_10ms = (u64)b * 10 / 16;
            return;
        }
    }
    wr(REG_LVT_TIMER, (1 << 16) | 0x20);
    wr(REG_TIMER_INIT, 0xFFFFFFFF);
    u64 t0 = clock_ns(), t1;
    u32 c0 = rd(REG_TIMER_CUR);
    while ((t1 = clock_ns()) - t0 < 300000UL) cpu_relax();
    u32 c1 = rd(REG_TIMER_CUR);
    wr(REG_TIMER_INIT, 0);
    ticks_per_10ms = (u64)(c0 - c1) * 10000000UL / (t1 - t0);
    if (ticks_per_10ms > 562500 && ticks_per_10ms < 687500) ticks_per_10ms = 625000;
    if (!ticks_per_10ms) ticks_per_10ms = 625000; /* 1 GHz bus / 16, what KVM emulates */
}

void apic_timer_oneshot(u64 ns)
{
    if (!ns) {
        wr(REG_TIMER_INIT, 0);
        return;
    }
    if (ns > 60000000000UL) ns = 60000000000UL;
    u64 count = ns * ticks_per_10ms / 10000000UL;
    if (count == 0) count = 1;
    if (count > 0xFFFFFFFFUL) count = 0xFFFFFFFFUL;
    wr(REG_LVT_TIMER, 0x20); /* one-shot, unmasked */
    wr(REG_TIMER_INIT, (u32)count);
}
