/* Physical memory: a bump allocator over the usable RAM of the memory map. Each region is
 * consumed from both ends: 4 KiB pages from the bottom, 2 MiB pages from the top, so nothing
 * is lost to alignment and no per-page array exists (a 16 GiB guest boots like a 1 GiB one).
 * Fresh guest RAM is zero, so a fresh page needs no clearing. Freed user pages are not reused:
 * clearing them would be a bulk write at CPL 0 (see docs/test-guest.md, "Limits"). */
#include "kernel.h"

struct mem_region ram[32];   /* usable RAM as the memory map gives it */
int nram;
u64 usable_bytes;

struct pool { u64 lo, hi; };
static struct pool pools[40];
static int npools;

/* floor: nothing below it is handed out; [reserve_lo, reserve_hi): the initrd. */
void mem_init(const struct mem_region *usable, int n, u64 floor, u64 reserve_lo, u64 reserve_hi)
{
    for (int i = 0; i < n && nram < (int)ARRAY_SIZE(ram); i++) {
        ram[nram++] = usable[i];
        usable_bytes += usable[i].size;
    }
    for (int i = 0; i < nram; i++) {
        u64 lo = ALIGN_UP(ram[i].base, PAGE_SIZE), hi = ALIGN_DOWN(ram[i].base + ram[i].size, PAGE_SIZE);
        if (lo < floor) lo = floor; /* below: the kernel image, boot data, AP trampoline */
        /* split around the reserved range */
        if (reserve_lo < hi && reserve_hi > lo) {
            u64 rlo = ALIGN_DOWN(reserve_lo, PAGE_SIZE), rhi = ALIGN_UP(reserve_hi, PAGE_SIZE);
            if (rlo > lo && npools < (int)ARRAY_SIZE(pools)) pools[npools++] = (struct pool){ lo, rlo };
            lo = rhi;
        }
        if (hi > lo && npools < (int)ARRAY_SIZE(pools)) pools[npools++] = (struct pool){ lo, hi };
    }
}

u64 alloc_page(void)
{
    for (int i = 0; i < npools; i++)
        if (pools[i].lo + PAGE_SIZE <= pools[i].hi) {
            u64 p = pools[i].lo;
            pools[i].lo += PAGE_SIZE;
            return p;
        }
    return 0;
}

u64 alloc_huge(void)
{
    for (int i = npools - 1; i >= 0; i--) {
        if (pools[i].hi < HUGE_SIZE) continue;
        u64 h = ALIGN_DOWN(pools[i].hi, HUGE_SIZE) - HUGE_SIZE;
        if (h >= pools[i].lo) {
            pools[i].hi = h;
            return h;
        }
    }
    return 0;
}

/* Small kernel objects: power-of-two classes from 32 bytes to 4 KiB carved from fresh pages.
 * A reused object is cleared here; objects are small, so that is cheap even at CPL 0. */
static void *free_lists[8];

static int size_class(size_t n)
{
    int c = 0;
    size_t s = 32;
    while (s < n) s <<= 1, c++;
    return c;
}

void *kzalloc(size_t n)
{
    int c = size_class(n);
    if (c >= 8) panic("kzalloc(%lu) too large", (u64)n);
    size_t sz = 32UL << c;
    void *p = free_lists[c];
    if (p) {
        free_lists[c] = *(void **)p;
        memset(p, 0, sz);
        return p;
    }
    u64 pa = alloc_page();
    if (!pa) panic("out of memory for kernel objects");
    u8 *page = phys_to_virt(pa);
    for (size_t off = sz; off + sz <= PAGE_SIZE; off += sz) { /* rest of the page to the free list */
        *(void **)(page + off) = free_lists[c];
        free_lists[c] = page + off;
    }
    return page;
}

void kfree(void *p, size_t n)
{
    if (!p) return;
    int c = size_class(n);
    *(void **)p = free_lists[c];
    free_lists[c] = p;
}
