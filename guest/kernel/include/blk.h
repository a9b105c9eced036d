/* Block devices (virtio-blk) as files for programs: /dev/vda, /dev/vdb, ... */
#pragma once
#include "proc.h"

struct blkdev;
struct blkdev *blk_lookup(const char *path);  /* NULL: no such device */
u64 blk_size_bytes(const struct blkdev *b);
int blk_read_only(const struct blkdev *b);
u64 blk_rdev(const struct blkdev *b);         /* major 254 (Linux's virtblk), minor 16 per disk */
/* read (write = 0) or write len bytes at byte offset off from/to the user buffer buf: the
 * number of bytes moved (short at the end of the device), a negative errno, or RET_BLOCK when
 * the thread now waits for the device (the interrupt hands it its result). */
s64 blk_rw(struct thread *t, struct blkdev *b, int write, u64 buf, u64 len, u64 off);
s64 blk_flush(struct thread *t, struct blkdev *b);  /* 0, -EIO, or RET_BLOCK */
void blk_thread_gone(struct thread *t);              /* t is freed; its request finishes unseen */
