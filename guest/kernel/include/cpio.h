/* The initrd: a cpio "newc" archive whose files are used in place, never copied. */
#pragma once
#include "kernel.h"
struct cpio_file {
    const char *name;   /* without a leading "./" or "/" */
    u64 data_phys;      /* the file's bytes, inside the initrd */
    u64 size;
    u32 mode;
    u32 ino;
    u64 mtime;
    const char *header;  /* until the first lookup decodes mode, ino and mtime from it */
};
extern u64 initrd_phys, initrd_size;
int cpio_init(u64 phys, u64 size);
const struct cpio_file *cpio_lookup(const char *path);
