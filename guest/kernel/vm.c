/* A process's user address space: a sorted array of mappings (struct vma) and lazily filled
 * page tables. Anonymous memory is populated on #PF, with a 2 MiB page whenever the aligned
 * 2 MiB block lies wholly inside the mapping (one fault per 2 MiB instead of 512). */
#include "proc.h"

#define FAULT_AROUND 0x10000UL

struct vma *vma_find(struct proc *p, u64 va)
{
    for (int i = 0; i < p->nvma; i++)
        if (va >= p->vmas[i].start && va < p->vmas[i].end) return &p->vmas[i];
    return NULL;
}

static void vma_remove_at(struct proc *p, int i)
{
    memmove(&p->vmas[i], &p->vmas[i + 1], (p->nvma - i - 1) * sizeof(struct vma));
    p->nvma--;
}

static int vma_insert_at(struct proc *p, int i, struct vma v)
{
    if (p->nvma >= MAX_VMAS) return -ENOMEM;
    memmove(&p->vmas[i + 1], &p->vmas[i], (p->nvma - i) * sizeof(struct vma));
    p->vmas[i] = v;
    p->nvma++;
    return 0;
}

void vma_clear(struct proc *p, u64 start, u64 end)
{
    for (int i = 0; i < p->nvma;) {
        struct vma *v = &p->vmas[i];
        if (v->end <= start || v->start >= end) { i++; continue; }
        if (v->start < start && v->end > end) {
            struct vma right = *v;
            right.start = end;
            v->end = start;
            vma_insert_at(p, i + 1, right);
            return;
        }
        if (v->start < start) { v->end = start; i++; continue; }
        if (v->end > end) { v->start = end; i++; continue; }
        vma_remove_at(p, i);
    }
}

int vma_set(struct proc *p, u64 start, u64 end, u32 prot, u32 kind)
{
    vma_clear(p, start, end);
    int i = 0;
    while (i < p->nvma && p->vmas[i].start < start) i++;
    struct vma v = { start, end, prot, kind };
    /* merge with neighbours of the same kind, so a growing brk stays one mapping */
    if (i > 0 && p->vmas[i - 1].end == start && p->vmas[i - 1].prot == prot && p->vmas[i - 1].kind == kind) {
        p->vmas[i - 1].end = end;
        if (i < p->nvma && p->vmas[i].start == end && p->vmas[i].prot == prot && p->vmas[i].kind == kind) {
            p->vmas[i - 1].end = p->vmas[i].end;
            vma_remove_at(p, i);
        }
        return 0;
    }
    if (i < p->nvma && p->vmas[i].start == end && p->vmas[i].prot == prot && p->vmas[i].kind == kind) {
        p->vmas[i].start = start;
        return 0;
    }
    return vma_insert_at(p, i, v);
}

int handle_user_fault(struct proc *p, u64 va, int write)
{
    struct vma *v = vma_find(p, va);
    if (!v || v->kind != VMA_ANON || !(v->prot & (PROT_READ | PROT_WRITE | PROT_EXEC))) return -1;
    int writable = (v->prot & PROT_WRITE) || p->loading; /* the ELF copy helper fills read-only segments */
    if (write && !writable) return -1;
    u64 flags = PTE_U | (writable ? PTE_W : 0);
    int level;
    u64 *e = pte_walk(p->pml4, va, 0, &level);
    if (e && (*e & PTE_P)) { /* present: rights grew (mprotect) since it was mapped */
        *e |= flags;
        invlpg(va);
        return 0;
    }
    u64 block = ALIGN_DOWN(va, HUGE_SIZE);
    if (block >= v->start && block + HUGE_SIZE <= v->end) {
        u64 *pde = pte_walk(p->pml4, va, 2, &level);
        if (pde && !(*pde & PTE_P)) {
            u64 pa = alloc_huge();
            if (pa) {
                *pde = pa | flags | PTE_P | PTE_PS;
                return 0;
            }
        }
    }
    /* Fault around: fill the whole aligned 64 KiB window (inside the mapping) at once. A
     * fault costs ~0.2 ms of emulated kernel code; one more PTE costs a few microseconds. */
    u64 *pte = pte_walk(p->pml4, va, 1, &level);
    if (!pte || level != 1) return -1;
    u64 lo = MAX(ALIGN_DOWN(va, FAULT_AROUND), v->start), hi = MIN(ALIGN_DOWN(va, FAULT_AROUND) + FAULT_AROUND, v->end);
    u64 *first = pte - ((va - lo) >> 12);
    for (u64 a = lo; a < hi; a += PAGE_SIZE) {
        u64 *e1 = first + ((a - lo) >> 12);
        if (*e1 & PTE_P) continue;
        u64 pa = alloc_page();
        if (!pa) {
            if (a != ALIGN_DOWN(va, PAGE_SIZE)) continue;
            kprintf("ferry-guest: out of memory (pid %d, address %p)\n", p->pid, (void *)va);
            return -1;
        }
        *e1 = pa | flags | PTE_P;
    }
    return 0;
}

/* Kernel pointer (through the direct map) to user byte va, faulting the page in if needed. */
void *user_ptr(struct proc *p, u64 va, int write)
{
    if (va >= 0x800000000000UL) return NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        int level;
        u64 *e = pte_walk(p->pml4, va, 0, &level);
        if (e && (*e & PTE_P) && (*e & PTE_U) && (!write || (*e & PTE_W))) {
            if (level == 2) return phys_to_virt((*e & 0x000fffffffe00000UL) + (va & (HUGE_SIZE - 1)));
            return phys_to_virt((*e & PTE_ADDR) + (va & (PAGE_SIZE - 1)));
        }
        if (attempt || handle_user_fault(p, va, write) < 0) return NULL;
    }
    return NULL;
}

/* Physical address of user byte va (faulting its page in if needed), and in *run the bytes
 * from there to the end of its page (4 KiB or 2 MiB): what a device may reach by DMA. ~0UL when
 * va is not mapped with the rights asked for. */
u64 user_phys(struct proc *p, u64 va, int write, u64 *run)
{
    if (va >= 0x800000000000UL) return ~0UL;
    for (int attempt = 0; attempt < 2; attempt++) {
        int level;
        u64 *e = pte_walk(p->pml4, va, 0, &level);
        if (e && (*e & PTE_P) && (*e & PTE_U) && (!write || (*e & PTE_W))) {
            u64 page = level == 2 ? HUGE_SIZE : PAGE_SIZE;
            *run = page - (va & (page - 1));
            return (*e & PTE_ADDR & ~(page - 1)) + (va & (page - 1));
        }
        if (attempt || handle_user_fault(p, va, write) < 0) return ~0UL;
    }
    return ~0UL;
}

int copy_to_user(struct proc *p, u64 dst, const void *src, size_t n)
{
    const u8 *s = src;
    while (n) {
        u8 *d = user_ptr(p, dst, 1);
        if (!d) return -EFAULT;
        size_t chunk = MIN(n, PAGE_SIZE - (dst & (PAGE_SIZE - 1)));
        memcpy(d, s, chunk);
        dst += chunk, s += chunk, n -= chunk;
    }
    return 0;
}

int copy_from_user(struct proc *p, void *dst, u64 src, size_t n)
{
    u8 *d = dst;
    while (n) {
        const u8 *s = user_ptr(p, src, 0);
        if (!s) return -EFAULT;
        size_t chunk = MIN(n, PAGE_SIZE - (src & (PAGE_SIZE - 1)));
        memcpy(d, s, chunk);
        src += chunk, d += chunk, n -= chunk;
    }
    return 0;
}

int strncpy_from_user(struct proc *p, char *dst, u64 src, size_t n)
{
    size_t i = 0;
    while (i < n) { /* one page walk per page, not per byte */
        const char *s = user_ptr(p, src + i, 0);
        if (!s) return -EFAULT;
        size_t chunk = MIN(n - i, PAGE_SIZE - ((src + i) & (PAGE_SIZE - 1)));
        for (size_t k = 0; k < chunk; k++, i++)
            if (!(dst[i] = s[k])) return (int)i;
    }
    dst[n - 1] = 0;
    return -ERANGE;
}

int user_range_ready(struct proc *p, u64 va, size_t n, int write)
{
    if (!n) return 0;
    for (u64 a = ALIGN_DOWN(va, PAGE_SIZE); a < va + n; a += PAGE_SIZE)
        if (!user_ptr(p, a < va ? va : a, write)) return -EFAULT;
    return 0;
}

/* Make the present pages of [start, end) match prot: no U bit for PROT_NONE (the page and
 * its contents stay, so a later mprotect brings them back), no W bit without PROT_WRITE.
 * A 2 MiB page only partly inside the range keeps its rights. */
void protect_range(struct proc *p, u64 start, u64 end, u32 prot)
{
    if (p->nthreads > 1) tlb_shootdown(p);
    u64 *pml4 = phys_to_virt(p->pml4);
    u64 set = (prot & (PROT_READ | PROT_WRITE | PROT_EXEC) ? PTE_U : 0) | (prot & PROT_WRITE ? PTE_W : 0);
    for (u64 va = start; va < end;) {
        u64 *e4 = &pml4[(va >> 39) & 511];
        if (!(*e4 & PTE_P)) { va = ALIGN_DOWN(va, 1UL << 39) + (1UL << 39); continue; }
        u64 *e3 = &((u64 *)phys_to_virt(*e4 & PTE_ADDR))[(va >> 30) & 511];
        if (!(*e3 & PTE_P)) { va = ALIGN_DOWN(va, 1UL << 30) + (1UL << 30); continue; }
        u64 *e2 = &((u64 *)phys_to_virt(*e3 & PTE_ADDR))[(va >> 21) & 511];
        if (!(*e2 & PTE_P)) { va = ALIGN_DOWN(va, HUGE_SIZE) + HUGE_SIZE; continue; }
        if (*e2 & PTE_PS) {
            if (!(va & (HUGE_SIZE - 1)) && va + HUGE_SIZE <= end) {
                *e2 = (*e2 & ~(PTE_U | PTE_W)) | set;
                invlpg(va);
            }
            va = ALIGN_DOWN(va, HUGE_SIZE) + HUGE_SIZE;
            continue;
        }
        u64 *e1 = &((u64 *)phys_to_virt(*e2 & PTE_ADDR))[(va >> 12) & 511];
        if (*e1 & PTE_P) {
            *e1 = (*e1 & ~(PTE_U | PTE_W)) | set;
            invlpg(va);
        }
        va += PAGE_SIZE;
    }
}

/* Drop the page-table entries of [start, end), skipping absent tables wholesale. The pages
 * themselves are not reused (see mem.c). A partly covered 2 MiB page is split first. */
void unmap_range(struct proc *p, u64 start, u64 end)
{
    if (p->nthreads > 1) tlb_shootdown(p);
    u64 *pml4 = phys_to_virt(p->pml4);
    for (u64 va = start; va < end;) {
        u64 *e4 = &pml4[(va >> 39) & 511];
        if (!(*e4 & PTE_P)) { va = ALIGN_DOWN(va, 1UL << 39) + (1UL << 39); continue; }
        u64 *e3 = &((u64 *)phys_to_virt(*e4 & PTE_ADDR))[(va >> 30) & 511];
        if (!(*e3 & PTE_P)) { va = ALIGN_DOWN(va, 1UL << 30) + (1UL << 30); continue; }
        u64 *e2 = &((u64 *)phys_to_virt(*e3 & PTE_ADDR))[(va >> 21) & 511];
        if (!(*e2 & PTE_P)) { va = ALIGN_DOWN(va, HUGE_SIZE) + HUGE_SIZE; continue; }
        if (*e2 & PTE_PS) {
            if (!(va & (HUGE_SIZE - 1)) && va + HUGE_SIZE <= end) {
                *e2 = 0;
                invlpg(va);
                va += HUGE_SIZE;
                continue;
            }
            u64 pt_pa = alloc_page();
            if (!pt_pa) return;
            u64 *pt = phys_to_virt(pt_pa), base = *e2 & 0x000fffffffe00000UL, fl = *e2 & (PTE_U | PTE_W);
            for (int i = 0; i < 512; i++) pt[i] = (base + i * PAGE_SIZE) | fl | PTE_P;
            *e2 = pt_pa | PTE_P | PTE_W | PTE_U;
            invlpg(ALIGN_DOWN(va, HUGE_SIZE));
        }
        u64 *pt = phys_to_virt(*e2 & PTE_ADDR);
        u64 *e1 = &pt[(va >> 12) & 511];
        if (*e1 & PTE_P) {
            *e1 = 0;
            invlpg(va);
        }
        va += PAGE_SIZE;
    }
}
