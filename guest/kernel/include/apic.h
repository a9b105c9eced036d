/* Local APIC: x2APIC through MSRs when the CPU has it, else xAPIC MMIO at 0xFEE00000. */
#pragma once
#include "kernel.h"
void apic_init_cpu(void);
u32 apic_id(void);
void apic_eoi(void);
void apic_send_ipi(u32 apic_id, u8 vector);
void apic_send_init(u32 apic_id);
void apic_send_sipi(u32 apic_id, u8 page);
void apic_timer_calibrate(void);
void apic_timer_oneshot(u64 ns); /* 0 stops it */
