/* virtio 1.x over MMIO (transport version 2) with split virtqueues: the devices the command
 * line names (virtio_mmio.device=SIZE@BASE:IRQ), one or two queues each. All of it runs under
 * big_lock. See docs/test-guest.md, "Disk". */
#pragma once
#include "kernel.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_F_VERSION_1 (1UL << 32)

struct virtq_desc {
    u64 addr;
    u32 len;
    u16 flags, next;
};
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2 /* the device writes this buffer */

/* A split virtqueue in one 4 KiB page: descriptors, then the driver (avail) ring, then the
 * device (used) ring. Free descriptors are chained through `next`. */
struct virtq {
    u16 size;              /* a power of two, at most VIRTQ_MAX */
    u16 nfree, free_head;
    u16 avail_idx;         /* our copy of the driver ring's idx */
    u16 last_used;         /* the next device-ring entry to read */
    struct virtq_desc *desc;
    volatile u16 *avail;   /* flags, idx, ring[size] */
    volatile u32 *used;    /* flags | idx << 16, then (id, len) pairs */
};
#define VIRTQ_MAX 128

/* One buffer of a request: guest-physical, device-readable or device-writable. */
struct virtq_seg {
    u64 phys;
    u32 len;
    u32 device_writes;
};

struct virtio_dev {
    volatile u8 *regs;
    u64 base;
    u32 gsi, device_id;
    u8 vector;
    u64 features;          /* as negotiated */
    struct virtq q;        /* queue 0 */
    struct virtq q1;       /* queue 1, for devices with two (virtio-net: transmit) */
    void (*interrupt)(struct virtio_dev *d);
    void *driver;
};

#define VEC_VIRTIO_FIRST 0x30
#define VIRTIO_MAX_DEVICES 16

void virtio_init(const char *cmdline);
void virtio_interrupt(u64 vector);          /* trap(): a vector from VEC_VIRTIO_FIRST on */
int virtio_is_vector(u64 vector);
int virtio_start(struct virtio_dev *d, u64 wanted_features); /* up to FEATURES_OK and queue 0 */
void virtio_ready(struct virtio_dev *d);                      /* DRIVER_OK */
u32 virtio_config32(struct virtio_dev *d, u32 off);
u64 virtio_config64(struct virtio_dev *d, u32 off);
u16 virtio_config16(struct virtio_dev *d, u32 off);
u8 virtio_config8(struct virtio_dev *d, u32 off);
int virtq_add(struct virtq *q, const struct virtq_seg *segs, int n); /* head, or -1: too few free */
void virtq_notify(struct virtio_dev *d);   /* queue 0 */
void virtq_notify_queue(struct virtio_dev *d, u32 index);
int virtio_setup_queue(struct virtio_dev *d, u32 index, struct virtq *q); /* before virtio_ready */
int virtq_next_used(struct virtq *q);      /* head of a finished chain (now free), or -1 */
int virtq_next_used_len(struct virtq *q, u32 *len); /* the same, with the bytes the device wrote */

/* virtio_blk.c */
int virtio_blk_probe(struct virtio_dev *d);
/* virtio_net.c */
int virtio_net_probe(struct virtio_dev *d);
