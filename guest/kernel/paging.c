/* Page tables. The kernel PML4 (boot_pml4 from boot.S) keeps the boot identity map in slot 0
 * (the AP trampoline needs it), the direct map of RAM and the low 4 GiB in slot 256 and the
 * kernel image in slot 511. Every process gets its own PML4 whose upper half shares slots 256
 * and 511; nothing else in the upper half ever changes, so sharing those two entries is enough. */
#include "kernel.h"

extern u64 boot_pml4[];
u64 *kernel_pml4;

static int is_ram(u64 lo, u64 hi)
{
    for (int i = 0; i < nram; i++)
        if (ram[i].base < hi && ram[i].base + ram[i].size > lo) return 1;
    return 0;
}

/* Build the direct map with 2 MiB pages. Before it exists, fresh page-table pages (low
 * physical memory, below 1 GiB) are reached through the kernel image's -2 GiB alias. */
void paging_init(u64 max_phys)
{
    kernel_pml4 = (u64 *)((u64)boot_pml4 + KERNEL_VMA);
    u64 end = ALIGN_UP(MAX(max_phys, 1UL << 32), 1UL << 30);
    if (end > (512UL << 30)) end = 512UL << 30;
    u64 pdpt_pa = alloc_page();
    u64 *pdpt = (u64 *)(pdpt_pa + KERNEL_VMA);
    for (u64 gib = 0; gib < end; gib += 1UL << 30) {
        u64 pd_pa = alloc_page();
        if (!pd_pa || pd_pa >= (1UL << 30)) panic("no low memory for the direct map");
        u64 *pd = (u64 *)(pd_pa + KERNEL_VMA);
        for (u64 i = 0; i < 512; i++) {
            u64 pa = gib + (i << 21);
            u64 flags = PTE_P | PTE_W | PTE_PS;
            if (!is_ram(pa, pa + HUGE_SIZE)) flags |= PTE_PCD | PTE_PWT; /* MMIO: LAPIC, IOAPIC, ... */
            pd[i] = pa | flags;
        }
        pdpt[gib >> 30] = pd_pa | PTE_P | PTE_W;
    }
    kernel_pml4[256] = pdpt_pa | PTE_P | PTE_W;
    write_cr3(read_cr3());
}

static u64 *next_table(u64 *entry, int create, u64 flags)
{
    if (!(*entry & PTE_P)) {
        if (!create) return NULL;
        u64 pa = alloc_page();
        if (!pa) return NULL;
        *entry = pa | flags;
    }
    return phys_to_virt(*entry & PTE_ADDR);
}

/* Entry mapping va: the PD entry (*level_out = 2) when a 2 MiB page maps it, else the PT
 * entry (level 1). create: build missing tables; returns NULL when absent or out of memory. */
u64 *pte_walk(u64 pml4_phys, u64 va, int create, int *level_out)
{
    u64 tflags = PTE_P | PTE_W | (va < 0x800000000000UL ? PTE_U : 0);
    u64 *pml4 = phys_to_virt(pml4_phys);
    u64 *pdpt = next_table(&pml4[(va >> 39) & 511], create, tflags);
    if (!pdpt) return NULL;
    u64 *pd = next_table(&pdpt[(va >> 30) & 511], create, tflags);
    if (!pd) return NULL;
    u64 *pde = &pd[(va >> 21) & 511];
    if (*pde & PTE_PS) {
        if (level_out) *level_out = 2;
        return pde;
    }
    if (create == 2) { /* caller wants the PD entry itself (to place a 2 MiB page) */
        if (level_out) *level_out = 2;
        return pde;
    }
    u64 *pt = next_table(pde, create, tflags);
    if (!pt) return NULL;
    if (level_out) *level_out = 1;
    return &pt[(va >> 12) & 511];
}

int map_page(u64 pml4_phys, u64 va, u64 pa, u64 flags)
{
    int level;
    u64 *e = pte_walk(pml4_phys, va, 1, &level);
    if (!e || level != 1) return -ENOMEM;
    *e = pa | flags | PTE_P;
    return 0;
}

int map_huge(u64 pml4_phys, u64 va, u64 pa, u64 flags)
{
    int level;
    u64 *e = pte_walk(pml4_phys, va, 2, &level);
    if (!e || (*e & PTE_P)) return -ENOMEM;
    *e = pa | flags | PTE_P | PTE_PS;
    return 0;
}

u64 new_user_pml4(void)
{
    u64 pa = alloc_page();
    if (!pa) return 0;
    u64 *p = phys_to_virt(pa);
    p[256] = kernel_pml4[256];
    p[511] = kernel_pml4[511];
    return pa;
}
