/* cpio "newc" index: 110-byte ASCII headers, name and data each padded to 4 bytes, ended by
 * "TRAILER!!!". The index points into the archive; no file data moves. */
#include "cpio.h"

#define MAX_FILES 512
static struct cpio_file files[MAX_FILES];
static int nfiles;
u64 initrd_phys, initrd_size;

/* 8 ASCII hex digits (either case) at s, a word at a time: a handful of instructions instead of
 * a loop per digit, which counts at CPL 0 on kvm_pvm (~1 us per instruction). */
static u64 hex8(const char *s)
{
    u64 x = *(const u64u *)s;                                   /* s[0], the top digit, in the low byte */
    x = (x & 0x0f0f0f0f0f0f0f0fUL) + ((x >> 6) & 0x0101010101010101UL) * 9; /* '0'-'9', 'a'-'f', 'A'-'F' */
    x = ((x & 0x000f000f000f000fUL) << 4) | ((x >> 8) & 0x000f000f000f000fUL);
    x = ((x & 0x000000ff000000ffUL) << 8) | ((x >> 16) & 0x000000ff000000ffUL);
    return ((x & 0xffff) << 16) | (x >> 32);
}

static const char *strip(const char *p)
{
    while (*p == '/' || (p[0] == '.' && p[1] == '/')) p += *p == '/' ? 1 : 2;
    return p;
}

/* One pass over the headers (the initrd holds a dozen files): only the two sizes that lead to
 * the next header are decoded here; cpio_lookup decodes the rest of the header it returns. */
int cpio_init(u64 phys, u64 size)
{
    initrd_phys = phys;
    initrd_size = size;
    const char *base = phys_to_virt(phys);
    u64 off = 0;
    while (off + 110 <= size) {
        const char *h = base + off;
        if (*(const u32u *)h != 0x37303730 || h[4] != '0') return -1; /* "07070" */
        u64 namesize = hex8(h + 94), filesize = hex8(h + 54);
        const char *name = h + 110;
        u64 data = ALIGN_UP(off + 110 + namesize, 4);
        if (namesize == 11 && !memcmp(name, "TRAILER!!!", 11)) break;
        if (nfiles < MAX_FILES) {
            struct cpio_file *f = &files[nfiles++];
            f->name = strip(name);
            f->header = h;
            f->data_phys = phys + data;
            f->size = filesize;
        }
        off = ALIGN_UP(data + filesize, 4);
    }
    return nfiles;
}

const struct cpio_file *cpio_lookup(const char *path)
{
    path = strip(path);
    size_t n = strlen(path);
    while (n && path[n - 1] == '/') n--;
    if (n == 0 || (n == 1 && path[0] == '.')) {
        static struct cpio_file root = { "", 0, 0, 040755, 1, 0, NULL };
        return &root;
    }
    for (int i = 0; i < nfiles; i++) {
        struct cpio_file *f = &files[i];
        if (strncmp(f->name, path, n) || f->name[n]) continue;
        if (f->header) { /* first lookup of this file: the rest of its header */
            f->mode = (u32)hex8(f->header + 14);
            f->ino = (u32)hex8(f->header + 6);
            f->mtime = hex8(f->header + 46);
            f->header = NULL;
        }
        return f;
    }
    return NULL;
}
