/* Memory system calls. mmap hands out addresses upward from MMAP_BASE, 2 MiB aligned for
 * mappings of 2 MiB or more so the fault handler can use 2 MiB pages. */
#include "syscalls.h"
#include "cpio.h"

#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define USER_TOP 0x7f0000000000UL /* below the initrd window and the kernel-made mappings */
extern char helper_copy[];

static int overlaps(struct proc *p, u64 start, u64 end)
{
    for (int i = 0; i < p->nvma; i++)
        if (p->vmas[i].start < end && p->vmas[i].end > start) return 1;
    return 0;
}

SYSCALL(mmap)
{
    struct proc *p = t->proc;
    u64 addr = A0, len = ALIGN_UP(A1, PAGE_SIZE), prot = A2, flags = A3, off = A5;
    s64 fd = (s64)A4;
    if (!len || len > USER_TOP) return -EINVAL;
    const struct cpio_file *file = NULL;
    if (!(flags & MAP_ANONYMOUS)) {
        if (fd < 0 || fd >= MAX_FDS || !p->fds[fd]) return -EBADF;
        file = p->fds[fd]->file;
        if (!file || (off & (PAGE_SIZE - 1))) return -ENODEV;
        prot |= PROT_WRITE; /* a private copy, filled by the CPL-3 copy helper */
    }
    u64 start;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr & (PAGE_SIZE - 1) || addr + len > USER_TOP || addr + len < addr) return -EINVAL;
        if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED) && overlaps(p, addr, addr + len)) return -EEXIST;
        start = addr;
        unmap_range(p, start, start + len);
    } else {
        start = ALIGN_UP(p->mmap_next, len >= HUGE_SIZE ? HUGE_SIZE : PAGE_SIZE);
        if (start + len > USER_TOP) return -ENOMEM;
        p->mmap_next = start + len;
    }
    if (vma_set(p, start, start + len, (u32)prot & 7, VMA_ANON) < 0) return -ENOMEM;
    if (file && off < file->size) {
        u64 n = MIN(len, file->size - off);
        t->helper_ret = *f;
        t->helper_ret.rax = start;
        run_helper(t, f, H_SYSRET, tramp_va(helper_copy), start, initrd_user_va(file->data_phys + off), n, 0);
        return RET_NOTOUCH;
    }
    return (s64)start;
}

SYSCALL(munmap)
{
    (void)f;
    u64 start = A0, len = ALIGN_UP(A1, PAGE_SIZE);
    if ((start & (PAGE_SIZE - 1)) || !len || start + len > USER_TOP) return -EINVAL;
    unmap_range(t->proc, start, start + len);
    vma_clear(t->proc, start, start + len);
    return 0;
}

/* New rights for the mappings and for the pages already present (a fault upgrades a page
 * when rights grew). */
SYSCALL(mprotect)
{
    struct proc *p = t->proc;
    u64 start = A0, end = A0 + ALIGN_UP(A1, PAGE_SIZE);
    if (start & (PAGE_SIZE - 1)) return -EINVAL;
    struct vma pieces[16];
    int n = 0;
    for (int i = 0; i < p->nvma && n < 16; i++) {
        struct vma *v = &p->vmas[i];
        if (v->end <= start || v->start >= end || v->kind != VMA_ANON) continue;
        pieces[n++] = (struct vma){ MAX(v->start, start), MIN(v->end, end), (u32)A2 & 7, v->kind };
    }
    if (!n) return -ENOMEM;
    for (int i = 0; i < n; i++) {
        vma_set(p, pieces[i].start, pieces[i].end, pieces[i].prot, pieces[i].kind);
        protect_range(p, pieces[i].start, pieces[i].end, pieces[i].prot);
    }
    (void)f;
    return 0;
}

SYSCALL(brk)
{
    struct proc *p = t->proc;
    (void)f;
    u64 want = A0;
    if (want < p->brk_start || want > p->brk_start + (64UL << 30)) return (s64)p->brk;
    u64 old_end = ALIGN_UP(p->brk, PAGE_SIZE), new_end = ALIGN_UP(want, PAGE_SIZE);
    if (new_end > old_end) {
        if (overlaps(p, old_end, new_end) || vma_set(p, old_end, new_end, PROT_READ | PROT_WRITE, VMA_ANON) < 0)
            return (s64)p->brk;
    } else if (new_end < old_end) {
        unmap_range(p, new_end, old_end);
        vma_clear(p, new_end, old_end);
    }
    p->brk = want;
    return (s64)want;
}

SYSCALL(madvise)
{
    (void)f;
    if (A2 == 4) unmap_range(t->proc, A0, A0 + ALIGN_UP(A1, PAGE_SIZE)); /* MADV_DONTNEED: zero on next touch */
    return 0;
}

SYSCALL(mremap)
{
    (void)t, (void)f;
    return -ENOMEM;
}
