/* Bringing up the other vCPUs: every enabled local APIC of the MADT gets INIT, SIPI, SIPI
 * into the real-mode trampoline (trampoline.S) copied below 1 MiB, all at once; each AP finds
 * its stack by its APIC ID and enters the scheduler. */
#include "boot.h"
#include "acpi.h"
#include "apic.h"
#include "clock.h"
#include "proc.h"

#define TRAMP_PHYS 0x8000
extern char ap_tramp_start[], ap_tramp_end[], ap_tramp_stacks[];
extern char syscall_gp_hlt[], syscall_native[];
u8 kstacks[MAX_CPUS][KSTACK_SIZE] __attribute__((aligned(KSTACK_SIZE)));
int syscall_native_route;

/* What every vCPU sets up for itself: descriptor tables, SIMD, LAPIC, kvmclock, LSTAR. */
void cpu_start_common(struct cpu *c)
{
    cpu_tables_init(c);
    fpu_cpu_init();
    apic_init_cpu();
    c->apic_id = apic_id();
    clock_init_cpu(c->index);
    wrmsr(MSR_LSTAR, tramp_va(syscall_native_route ? syscall_native : syscall_gp_hlt));
}

static struct frame *top_frame(struct cpu *c) { return (struct frame *)(c->kstack_top - sizeof(struct frame)); }

void ap_entry(void)
{
    struct cpu *c = this_cpu();
    cpu_start_common(c);
    __atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
    cpu_loop_start(top_frame(c));
}

/* Send INIT, SIPI, SIPI to every AP at once, without the MP specification's 10 ms and 200 us
 * pauses: KVM and QEMU latch a SIPI that arrives while the INIT is still pending (as Linux
 * relies on when it runs as a guest), and a SIPI to a vCPU already started is ignored. The APs
 * then come up while the BSP finishes booting; smp_wait() waits for them. */
void smp_start(void)
{
    u32 me = cpus[0]->apic_id;
    memcpy(phys_to_virt(TRAMP_PHYS), ap_tramp_start, ap_tramp_stacks - ap_tramp_start);
    u64 *stacks = phys_to_virt(TRAMP_PHYS + (ap_tramp_stacks - ap_tramp_start));
    int first = ncpus;
    for (int i = 0; i < acpi_ncpus; i++) {
        u32 id = acpi_cpu_apic_ids[i];
        if (id == me) continue;
        if (id > 255 || ncpus >= MAX_CPUS) {
            kprintf("ferry-guest: skipping vCPU with APIC ID %u\n", id);
            continue;
        }
        struct cpu *c = kzalloc(sizeof *c);
        c->index = ncpus;
        c->apic_id = id;
        c->kstack_top = (u64)kstacks[ncpus] + KSTACK_SIZE;
        *(struct cpu **)kstacks[ncpus] = c;
        stacks[id] = c->kstack_top; /* an AP reads only its own entry */
        cpus[ncpus++] = c;
    }
    for (int i = first; i < ncpus; i++) apic_send_init(cpus[i]->apic_id);
    for (int pass = 0; pass < 2; pass++)
        for (int i = first; i < ncpus; i++) apic_send_sipi(cpus[i]->apic_id, TRAMP_PHYS >> 12);
}

void smp_wait(void)
{
    u64 t0 = clock_ns();
    for (int i = 1; i < ncpus; i++)
        while (!__atomic_load_n(&cpus[i]->online, __ATOMIC_ACQUIRE)) {
            if (clock_ns() - t0 > 5000000000UL) panic("vCPU %d (APIC ID %u) did not start", i, cpus[i]->apic_id);
            cpu_relax();
        }
}
