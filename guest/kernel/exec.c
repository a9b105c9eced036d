/* Starting a program from the initrd: a new address space, the ELF segments copied into
 * fresh anonymous memory by a CPL-3 helper (the file bytes are read through a read-only user
 * mapping of the initrd), and the standard initial stack (argc, argv, envp, auxv). */
#include "proc.h"
#include "cpio.h"
#include "clock.h"
#include "syscalls.h"

extern char user_page_start[], helper_copylist[], vdso_start[], vdso_end[];

struct elf_hdr {
    u8 ident[16];
    u16 type, machine;
    u32 version;
    u64 entry, phoff, shoff;
    u32 flags;
    u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf_phdr {
    u32 type, flags;
    u64 offset, vaddr, paddr, filesz, memsz, align;
};
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6

static u64 initrd_window_base(void) { return ALIGN_DOWN(initrd_phys, HUGE_SIZE); }
u64 initrd_user_va(u64 phys) { return INITRD_VA + phys - initrd_window_base(); }

/* The pages every process shares: vvar, vDSO, the user page of entry.S, the initrd. */
static int map_common(struct proc *p)
{
    extern struct pvclock pvclock_page[];
    int r = 0;
    r |= map_page(p->pml4, VVAR_VA, virt_to_phys(pvclock_page), PTE_U);
    r |= map_page(p->pml4, VVAR_VA + PAGE_SIZE, virt_to_phys(&vvar_page), PTE_U);
    for (u64 off = 0; off < (u64)(vdso_end - vdso_start); off += PAGE_SIZE)
        r |= map_page(p->pml4, VDSO_VA + off, virt_to_phys(vdso_start + off), PTE_U);
    r |= map_page(p->pml4, TRAMP_VA, virt_to_phys(user_page_start), PTE_U);
    vma_set(p, VVAR_VA, TRAMP_VA + PAGE_SIZE, PROT_READ | PROT_EXEC, VMA_PHYS);
    u64 lo = initrd_window_base(), hi = ALIGN_UP(initrd_phys + initrd_size, HUGE_SIZE);
    for (u64 pa = lo; pa < hi; pa += HUGE_SIZE) r |= map_huge(p->pml4, INITRD_VA + pa - lo, pa, PTE_U);
    if (hi > lo) vma_set(p, INITRD_VA, INITRD_VA + hi - lo, PROT_READ, VMA_PHYS);
    return r;
}

struct proc *proc_create(const char *name)
{
    struct proc *p = kzalloc(sizeof *p);
    p->pid = alloc_id();
    p->vmas = kzalloc(MAX_VMAS * sizeof(struct vma));
    strncpy_z(p->name, name, sizeof p->name);
    p->pml4 = new_user_pml4();
    p->mmap_next = MMAP_BASE;
    if (!p->pml4 || map_common(p)) return NULL;
    for (int fd = 0; fd < 3; fd++) p->fds[fd] = kzalloc(sizeof(struct open_file)); /* console */
    return p;
}

struct stack_builder {
    u8 buf[4096];
    u64 top_va;     /* user address of buf's end */
    size_t used;    /* bytes used at the end of buf */
};

static u64 push_bytes(struct stack_builder *s, const void *data, size_t n)
{
    s->used += n;
    memcpy(s->buf + sizeof s->buf - s->used, data, n);
    return s->top_va - s->used;
}

static u64 push_str(struct stack_builder *s, const char *str) { return push_bytes(s, str, strlen(str) + 1); }

/* Split args on spaces into argv[1..]; returns argc. */
static int split_args(char *args, char **argv, int max)
{
    int n = 0;
    for (char *p = args; *p && n < max;) {
        while (*p == ' ') *p++ = 0;
        if (!*p) break;
        argv[n++] = p;
        while (*p && *p != ' ') p++;
    }
    return n;
}

static u64 rdrand64(void)
{
    u64 v = 0;
    u8 ok = 0;
    for (int i = 0; i < 10 && !ok; i++) __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
    return ok ? v : rdtsc() * 0x9E3779B97F4A7C15UL;
}

int proc_start(int workload, const char *path, const char *args_in)
{
    const struct cpio_file *file = cpio_lookup(path);
    if (!file || (file->mode & 0170000) != 0100000) {
        kprintf("ferry-guest: cannot start %s: no such file in the initrd\n", path);
        return -ENOENT;
    }
    const struct elf_hdr *eh = phys_to_virt(file->data_phys);
    if (file->size < sizeof *eh || memcmp(eh->ident, "\177ELF", 4) || eh->ident[4] != 2 || eh->machine != 62 ||
        (eh->type != 2 && eh->type != 3) || eh->phoff + (u64)eh->phnum * sizeof(struct elf_phdr) > file->size) {
        kprintf("ferry-guest: cannot start %s: not a static x86-64 ELF program\n", path);
        return -EINVAL;
    }
    const struct elf_phdr *ph = (const void *)((const u8 *)eh + eh->phoff);
    for (int i = 0; i < eh->phnum; i++)
        if (ph[i].type == PT_INTERP) {
            kprintf("ferry-guest: cannot start %s: dynamically linked (PT_INTERP)\n", path);
            return -EINVAL;
        }
    const char *base = path;
    for (const char *c = path; *c; c++)
        if (*c == '/') base = c + 1;
    struct proc *p = proc_create(base);
    if (!p) return -ENOMEM;
    p->workload = workload;

    u64 bias = eh->type == 3 ? PIE_BASE : 0, phdr_va = 0, top = 0;
    struct { u64 dst, src, len; } copies[16];
    int ncopies = 0;
    for (int i = 0; i < eh->phnum; i++) {
        const struct elf_phdr *h = &ph[i];
        if (h->type == PT_PHDR) phdr_va = bias + h->vaddr;
        if (h->type != PT_LOAD || !h->memsz) continue;
        if (h->offset + h->filesz > file->size || ncopies >= (int)ARRAY_SIZE(copies) - 1) return -EINVAL;
        u64 start = ALIGN_DOWN(bias + h->vaddr, PAGE_SIZE), end = ALIGN_UP(bias + h->vaddr + h->memsz, PAGE_SIZE);
        /* ELF p_flags: X=1 W=2 R=4; PROT_*: R=1 W=2 X=4 */
        u32 prot = ((h->flags & 4) ? PROT_READ : 0) | ((h->flags & 2) ? PROT_WRITE : 0) | ((h->flags & 1) ? PROT_EXEC : 0);
        vma_set(p, start, end, prot, VMA_ANON);
        if (p->nseg < 8) {
            p->seg_start[p->nseg] = start;
            p->seg_end[p->nseg] = end;
            p->seg_prot[p->nseg++] = prot;
        }
        if (h->filesz)
            copies[ncopies++] = (typeof(copies[0])){ bias + h->vaddr, initrd_user_va(file->data_phys + h->offset), h->filesz };
        if (!phdr_va && eh->phoff >= h->offset && eh->phoff < h->offset + h->filesz)
            phdr_va = bias + h->vaddr + (eh->phoff - h->offset);
        if (end > top) top = end;
    }
    copies[ncopies++] = (typeof(copies[0])){ 0, 0, 0 };
    /* Back the segments with 2 MiB pages (fresh, so zero: .bss needs nothing more): one PDE
     * where 4 KiB pages would cost a #PF each (~0.2 ms of emulated kernel code) during the
     * copy. Such a page is writable throughout; segment rights hold only for 4 KiB pages. */
    for (int i = 0; i < eh->phnum; i++) {
        const struct elf_phdr *h = &ph[i];
        if (h->type != PT_LOAD || !h->memsz) continue;
        for (u64 b = ALIGN_DOWN(bias + h->vaddr, HUGE_SIZE); b < bias + h->vaddr + h->memsz; b += HUGE_SIZE) {
            int level;
            u64 *pde = pte_walk(p->pml4, b, 2, &level);
            if (!pde || (*pde & PTE_P)) continue;
            u64 pa = alloc_huge();
            if (pa) *pde = pa | PTE_P | PTE_PS | PTE_U | PTE_W;
        }
    }
    p->brk_start = p->brk = top;
    p->loading = 1;
    vma_set(p, STACK_TOP - STACK_SIZE, STACK_TOP, PROT_READ | PROT_WRITE, VMA_ANON);

    /* strings and AT_RANDOM at the top, then the pointer block */
    static struct stack_builder sb; /* only the used tail is copied out: no need to clear it */
    sb.used = 0;
    sb.top_va = STACK_TOP - 16;
    char args[512];
    strncpy_z(args, args_in ? args_in : "", sizeof args);
    char *argv[32];
    int argc = 1 + split_args(args, argv + 1, 30);
    argv[0] = (char *)path;
    u64 argv_va[32], envp_va[4];
    for (int i = argc - 1; i >= 0; i--) argv_va[i] = push_str(&sb, argv[i]);
    static const char *const envp[] = { "PATH=/bin", "HOME=/", "TERM=dumb" };
    for (int i = 0; i < 3; i++) envp_va[i] = push_str(&sb, envp[i]);
    u64 platform = push_str(&sb, "x86_64");
    u64 rnd[2] = { rdrand64(), rdrand64() };
    u64 random_va = push_bytes(&sb, rnd, 16);
    u32 a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    u64 aux[][2] = {
        { 3, phdr_va }, { 4, sizeof(struct elf_phdr) }, { 5, eh->phnum }, { 6, PAGE_SIZE }, { 7, 0 }, { 8, 0 },
        { 9, bias + eh->entry }, { 11, 0 }, { 12, 0 }, { 13, 0 }, { 14, 0 }, { 15, platform }, { 16, d },
        { 17, 100 }, { 23, 0 }, { 25, random_va }, { 26, 0 }, { 31, argv_va[0] }, { 33, VDSO_VA }, { 0, 0 },
    };
    size_t words = 1 + argc + 1 + 3 + 1 + 2 * ARRAY_SIZE(aux);
    sb.used = ALIGN_UP(sb.used + words * 8, 16) - words * 8; /* rsp ends 16-byte aligned */
    u64 vec[128], *w = vec;
    *w++ = argc;
    for (int i = 0; i < argc; i++) *w++ = argv_va[i];
    *w++ = 0;
    for (int i = 0; i < 3; i++) *w++ = envp_va[i];
    *w++ = 0;
    memcpy(w, aux, sizeof aux);
    u64 sp = push_bytes(&sb, vec, words * 8);
    if (copy_to_user(p, sp, sb.buf + sizeof sb.buf - sb.used, sb.used) < 0) return -ENOMEM;
    u64 list_va = ALIGN_DOWN(sp - 4096, 64);
    if (copy_to_user(p, list_va, copies, ncopies * sizeof copies[0]) < 0) return -ENOMEM;

    struct thread *t = thread_new(p);
    if (!t) return -ENOMEM;
    /* first the copy helper (its HLT resumes helper_ret), then the program's entry */
    memset(&t->ctx, 0, sizeof t->ctx);
    t->ctx.cs = USER_CS;
    t->ctx.ss = USER_DS;
    t->ctx.rflags = 0x202;
    t->helper_ret = t->ctx;
    t->ctx.rip = tramp_va(helper_copylist);
    t->ctx.rbx = list_va;
    t->ctx.rsp = list_va;
    t->helper_ret.rip = bias + eh->entry;
    t->helper_ret.rsp = sp;
    make_runnable(t);
    return 0;
}
