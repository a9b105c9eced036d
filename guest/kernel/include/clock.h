/* Time: kvmclock (pvclock) or, without it (QEMU TCG), the TSC calibrated against the PIT,
 * published in the same pvclock format so the vDSO reads both the same way. */
#pragma once
#include "kernel.h"

struct pvclock {
    u32 version, pad0;
    u64 tsc_timestamp, system_time;
    u32 tsc_to_system_mul;
    s8 tsc_shift;
    u8 flags, pad[2];
};
#define PVCLOCK_STABLE 1

/* Second vvar page, read by the vDSO. */
struct vvar_data {
    u64 wall_sec, wall_nsec; /* CLOCK_REALTIME at monotonic 0 */
    u32 mode;                /* CLOCK_KVM or CLOCK_TSC */
    u32 pad;
};
#define CLOCK_KVM 1
#define CLOCK_TSC 2

extern struct pvclock pvclock_page[];
extern union vvar_page { struct vvar_data d; u8 bytes[4096]; } vvar_page;
#define vvar_data (vvar_page.d)
void clock_init(void);
void clock_init_cpu(int index);
u64 clock_ns(void);    /* CLOCK_MONOTONIC, never backwards across vCPUs */
u64 realtime_ns(void);
const char *clock_source(void);
