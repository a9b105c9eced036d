/* ACPI: the vCPUs from the MADT and power-off from the FADT and the DSDT's \_S5. */
#pragma once
#include "kernel.h"
extern u32 acpi_cpu_apic_ids[MAX_CPUS];
extern int acpi_ncpus;
struct acpi_ioapic { u32 address, gsi_base; };
extern struct acpi_ioapic acpi_ioapics[4]; /* MADT type 1; none without ACPI */
extern int acpi_nioapics;
void acpi_init(u64 rsdp_paddr);
__attribute__((noreturn)) void acpi_poweroff(void);
