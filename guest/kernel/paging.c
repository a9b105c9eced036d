/* Page tables. The kernel PML4 (boot_pml4 from boot.S) keeps the boot identity map in slot 0
 * (the AP trampoline needs it), the direct map of RAM and the low 4 GiB in slot 256 and the
 * kernel image in slot 511. Every process gets its own PML4 whose upper half shares slots 256
 * and 511; nothing else in the upper half ever changes, so sharing those two entries is enough. */
#include "kernel.h"

extern u64 boot_pml4[], boot_pd[], boot_pd_mmio[]; /* boot.S */
u64 *kernel_pml4;

/* Which 2 MiB blocks are RAM: a block that overlaps usable RAM at all is (so the holes below
 * 1 MiB stay write-back); every other block is MMIO (uncached). The direct map is built by runs
 * of blocks of one kind, never block by block: each entry written costs a few emulated
 * instructions on kvm_pvm (2 MiB pages over 4 GiB, one by one, took 37 ms of boot). */
static u64 block_lo(int i) { return ALIGN_DOWN(ram[i].base, HUGE_SIZE); }
static u64 block_hi(int i) { return ALIGN_UP(ram[i].base + ram[i].size, HUGE_SIZE); }

/* The end of the run of RAM blocks starting at pos, or pos if the block at pos is MMIO. */
static u64 ram_run_end(u64 pos)
{
    for (u64 end = pos;;) {
        u64 next = end;
        for (int i = 0; i < nram; i++)
            if (block_lo(i) <= end && block_hi(i) > next) next = block_hi(i);
        if (next == end) return end;
        end = next;
    }
}

/* The first RAM block at or above pos (~0 if none). */
static u64 next_ram_block(u64 pos)
{
    u64 best = ~0UL;
    for (int i = 0; i < nram; i++)
        if (block_hi(i) > pos) best = MIN(best, MAX(block_lo(i), pos));
    return best;
}

static const u64 WB = PTE_P | PTE_W | PTE_PS, UC = PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT;

/* Make the PD of [gib, gib + 1 GiB) right, writing only the entries that differ from what it
 * holds already: every entry `dflt` (WB, UC), or nothing at all (dflt 0, a fresh page). */
static void fill_pd(u64 *pd, u64 gib, u64 dflt)
{
    u64 top = gib + (1UL << 30);
    for (u64 pos = gib; pos < top;) {
        u64 end = ram_run_end(pos), flags = WB;
        if (end == pos) end = next_ram_block(pos), flags = UC;
        end = MIN(end, top);
        if (flags != dflt)
            for (u64 pa = pos; pa < end; pa += HUGE_SIZE) pd[(pa >> 21) & 511] = pa | flags;
        pos = end;
    }
}

static int has_gbpages(void)
{
    u32 a, b, c, d;
    cpuid(0x80000000, 0, &a, &b, &c, &d);
    if (a < 0x80000001) return 0;
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    return (d >> 26) & 1; /* pdpe1gb; kvm_pvm does not offer it */
}

/* Build the direct map. A GiB of one kind is a single 1 GiB page when the CPU has them. Below
 * 4 GiB the PDs are ready-made in the image (boot.S: boot_pd, write-back, also the boot
 * identity map; boot_pd_mmio, uncached), so only the blocks that differ from them are written;
 * above, fresh PDs. Fresh page-table pages (low physical memory, below 1 GiB) are reached
 * through the kernel image's -2 GiB alias, as the direct map does not exist yet. */
void paging_init(u64 max_phys)
{
    kernel_pml4 = (u64 *)((u64)boot_pml4 + KERNEL_VMA);
    u64 end = ALIGN_UP(MAX(max_phys, 1UL << 32), 1UL << 30);
    if (end > (512UL << 30)) end = 512UL << 30;
    int gbpages = has_gbpages();
    u64 pdpt_pa = alloc_page();
    u64 *pdpt = (u64 *)(pdpt_pa + KERNEL_VMA);
    for (u64 gib = 0; gib < end; gib += 1UL << 30) {
        u64 run = ram_run_end(gib);
        if (gbpages && (run >= gib + (1UL << 30) || (run == gib && next_ram_block(gib) >= gib + (1UL << 30)))) {
            pdpt[gib >> 30] = gib | (run == gib ? UC : WB);
            continue;
        }
        u64 *pd;
        if (gib < (4UL << 30)) {
            pd = gib ? boot_pd_mmio + ((gib >> 30) - 1) * 512 : (u64 *)((u64)boot_pd + KERNEL_VMA);
            fill_pd(pd, gib, gib ? UC : WB);
        } else {
            u64 pd_pa = alloc_page();
            if (!pd_pa || pd_pa >= (1UL << 30)) panic("no low memory for the direct map");
            pd = (u64 *)(pd_pa + KERNEL_VMA);
            fill_pd(pd, gib, 0);
        }
        pdpt[gib >> 30] = (virt_to_phys(pd) & PTE_ADDR) | PTE_P | PTE_W;
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
