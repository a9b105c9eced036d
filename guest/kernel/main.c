/* Boot: from the PVH entry (boot.S) to the ready marker and the first workload. */
#include "boot.h"
#include "acpi.h"
#include "apic.h"
#include "clock.h"
#include "cpio.h"
#include "proc.h"
#include "virtio.h"

char cmdline[1024];
struct cpu *cpus[MAX_CPUS];
int ncpus;
static struct cpu bsp;
extern char boot_stack[], _kernel_end[], probe_lstar[], probe_user[];
extern int probing;
int probe_syscall_route(u64 user_rip, u64 user_rsp);
extern char user_page_start[], syscall_native[], syscall_gp_hlt[];

/* Memory size from the CMOS (QEMU fills 0x34/0x35 and 0x5b-0x5d) when start_info has no map. */
static int cmos_memory(struct mem_region *r)
{
    outb(0x70, 0x34); u64 lo = inb(0x71);
    outb(0x70, 0x35); lo |= (u64)inb(0x71) << 8;
    outb(0x70, 0x5b); u64 hi = inb(0x71);
    outb(0x70, 0x5c); hi |= (u64)inb(0x71) << 8;
    outb(0x70, 0x5d); hi |= (u64)inb(0x71) << 16;
    int n = 0;
    r[n++] = (struct mem_region){ 0, 0x9f000 };
    r[n++] = (struct mem_region){ 0x100000, (16UL << 20) + (lo << 16) - 0x100000 };
    if (hi) r[n++] = (struct mem_region){ 1UL << 32, hi << 16 };
    return n;
}

/* On kvm_pvm SYSCALL at CPL 3 lands on LSTAR still at CPL 3; on hardware (and QEMU TCG) at
 * CPL 0. Make one call from user mode into a stub that tells the two apart. */
static void probe_route(struct cpu *c)
{
    map_page(virt_to_phys(kernel_pml4), TRAMP_VA, virt_to_phys(user_page_start), PTE_U);
    wrmsr(MSR_LSTAR, tramp_va(probe_lstar));
    probing = 1;
    int r = probe_syscall_route(tramp_va(probe_user), c->kstack_top);
    probing = 0;
    syscall_native_route = r == 2;
    wrmsr(MSR_LSTAR, tramp_va(syscall_native_route ? syscall_native : syscall_gp_hlt));
    kprintf("ferry-guest: syscall route=%s\n", syscall_native_route ? "native" : "gp-trap");
}

void kmain(u32 start_info_pa)
{
    /* Until the direct map exists, start_info and what it points to (all below 1 GiB) are
     * read through the boot identity map. */
    const struct hvm_start_info *si = (const void *)(u64)start_info_pa;
    *(struct cpu **)boot_stack = &bsp;
    cpus[ncpus++] = &bsp;
    if (si->magic != HVM_START_MAGIC) panic("no PVH start_info (magic 0x%x)", si->magic);
    if (si->cmdline_paddr) strncpy_z(cmdline, (const char *)si->cmdline_paddr, sizeof cmdline);
    kprintf("ferry-guest: booting cmdline=\"%s\"\n", cmdline);

    struct mem_region usable[32];
    int n = 0;
    u64 max_phys = 0;
    if (si->version >= 1 && si->memmap_entries && si->memmap_paddr) {
        const struct hvm_memmap_entry *m = (const void *)si->memmap_paddr;
        for (u32 i = 0; i < si->memmap_entries; i++) {
            if (m[i].type == 1 && n < 32) usable[n++] = (struct mem_region){ m[i].addr, m[i].size };
            if (m[i].type == 1) max_phys = MAX(max_phys, m[i].addr + m[i].size);
        }
    } else {
        n = cmos_memory(usable);
        for (int i = 0; i < n; i++) max_phys = MAX(max_phys, usable[i].base + usable[i].size);
    }
    u64 initrd_pa = 0, initrd_len = 0;
    if (si->nr_modules && si->modlist_paddr) {
        const struct hvm_modlist_entry *mod = (const void *)si->modlist_paddr;
        initrd_pa = mod[0].paddr;
        initrd_len = mod[0].size;
    }
    u64 rsdp = si->rsdp_paddr;
    mem_init(usable, n, ALIGN_UP((u64)_kernel_end - KERNEL_VMA, PAGE_SIZE), initrd_pa, initrd_pa + initrd_len);
    paging_init(max_phys);

    bsp.kstack_top = (u64)kstacks[0] + KSTACK_SIZE;
    *(struct cpu **)kstacks[0] = &bsp;
    outb(0x21, 0xff); /* mask the legacy PICs: their IRQs would land on exception vectors */
    outb(0xa1, 0xff);
    acpi_init(rsdp);
    clock_init();
    cpu_start_common(&bsp);
    apic_timer_calibrate();
    probe_route(&bsp);
    smp_start(); /* the APs start while the BSP reads the initrd and the command line */
    if (initrd_len && cpio_init(initrd_pa, initrd_len) < 0) kprintf("ferry-guest: initrd is not a cpio newc archive\n");
    workloads_parse(cmdline);
    virtio_init(cmdline);
    smp_wait();
    kprintf("ferry-guest: ready cpus=%d memory=%lu MiB\n", ncpus, usable_bytes >> 20);
    if (test_panic) panic("requested by ferry.test-panic=1");
    spin_lock(&big_lock);
    workloads_start();
    spin_unlock(&big_lock);
    cpu_loop_start((struct frame *)(bsp.kstack_top - sizeof(struct frame)));
}
