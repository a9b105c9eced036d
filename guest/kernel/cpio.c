/* cpio "newc" index: 110-byte ASCII headers, name and data each padded to 4 bytes, ended by
 * "TRAILER!!!". The index points into the archive; no file data moves. */
#include "cpio.h"

#define MAX_FILES 512
static struct cpio_file files[MAX_FILES];
static int nfiles;
u64 initrd_phys, initrd_size;

static u64 hex(const char *s, int n)
{
    u64 v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        v = v * 16 + (c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0);
    }
    return v;
}

static const char *strip(const char *p)
{
    while (*p == '/' || (p[0] == '.' && p[1] == '/')) p += *p == '/' ? 1 : 2;
    return p;
}

int cpio_init(u64 phys, u64 size)
{
    initrd_phys = phys;
    initrd_size = size;
    const char *base = phys_to_virt(phys);
    u64 off = 0;
    while (off + 110 <= size) {
        const char *h = base + off;
        if (memcmp(h, "07070", 5)) return -1;
        u64 namesize = hex(h + 94, 8), filesize = hex(h + 54, 8);
        const char *name = h + 110;
        u64 data = ALIGN_UP(off + 110 + namesize, 4);
        if (!strcmp(name, "TRAILER!!!")) break;
        if (nfiles < MAX_FILES) {
            struct cpio_file *f = &files[nfiles++];
            f->name = strip(name);
            f->data_phys = phys + data;
            f->size = filesize;
            f->mode = (u32)hex(h + 14, 8);
            f->ino = (u32)hex(h + 6, 8);
            f->mtime = hex(h + 46, 8);
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
        static struct cpio_file root = { "", 0, 0, 040755, 1, 0 };
        return &root;
    }
    for (int i = 0; i < nfiles; i++)
        if (!strncmp(files[i].name, path, n) && files[i].name[n] == 0) return &files[i];
    return NULL;
}
