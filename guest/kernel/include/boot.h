/* The Xen PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h). */
#pragma once
#include "kernel.h"
#define HVM_START_MAGIC 0x336ec578
struct hvm_start_info {
    u32 magic, version, flags, nr_modules;
    u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr; /* memmap: version >= 1 */
    u32 memmap_entries, reserved;
};
struct hvm_memmap_entry { u64 addr, size; u32 type, reserved; };
struct hvm_modlist_entry { u64 paddr, size, cmdline_paddr, reserved; };

/* workloads.c */
void workloads_parse(const char *cmdline);
void workloads_start(void);
extern int nworkloads;
extern int test_panic;

/* smp.c */
void smp_start(void); /* INIT/SIPI to every AP */
void smp_wait(void);  /* until every AP is online */
void cpu_start_common(struct cpu *c);
extern u8 kstacks[MAX_CPUS][KSTACK_SIZE];
__attribute__((noreturn)) void cpu_loop_start(struct frame *top);
