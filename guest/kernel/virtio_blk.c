/* virtio-blk: each disk is /dev/vdX for programs. A read or write of a program becomes one
 * "operation" (struct blk_op): one or more virtio requests whose data descriptors point at the
 * program's own pages, so the device moves every byte and the kernel copies none (kvm_pvm
 * emulates CPL-0 code at ~0.5 us an instruction; a 4 KiB copy there costs ~0.5 ms).
 *
 * Any byte offset and length work, as on Linux's buffered block devices. The sectors an
 * operation touches only in part are handled with a 1 KiB edge buffer instead of a copy:
 *   read:  the unwanted bytes of the first and last sector land in the edge buffer;
 *   write: first the partial sectors are read into the edge buffer, then one write sends
 *          [edge head bytes][the program's bytes][edge tail bytes] (read-modify-write).
 * While a read-modify-write is in flight, a later write that overlaps its sectors waits (and
 * it waits for earlier overlapping writes), so no update of a shared sector is lost.
 *
 * The calling thread sleeps (its vCPU runs others or halts) until the interrupt that
 * completes its last request; one interrupt completes every finished request. Operations
 * start in order; one that cannot get descriptors holds back the ones behind it. */
#include "syscalls.h"
#include "virtio.h"
#include "blk.h"

#define VIRTIO_BLK_F_SEG_MAX (1UL << 2)
#define VIRTIO_BLK_F_RO (1UL << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1UL << 6)
#define VIRTIO_BLK_F_FLUSH (1UL << 9)
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define CFG_CAPACITY 0  /* u64, 512-byte sectors */
#define CFG_SEG_MAX 12  /* u32 */
#define SECTOR 512UL
#define MAX_REQUEST_BYTES (1UL << 20) /* so one large operation does not hold the queue alone */
#define MAX_DISKS 8

enum { OP_READ, OP_WRITE, OP_FLUSH };
enum { PH_WAITING, PH_EDGES, PH_DATA, PH_DONE };

struct blk_op {
    struct blk_op *next;
    struct blkdev *dev;
    struct thread *waiter;     /* NULL: nobody to tell (its thread ended, or not yet blocked) */
    struct proc *proc;         /* never freed, so its page tables outlive the thread */
    int kind, phase;
    u64 buf, len;              /* the program's buffer */
    u64 s0, s1;                /* sectors [s0, s1) hold [off, off + len) */
    u32 head_skip, tail_skip;  /* bytes of sector s0 before off, of sector s1 - 1 after the end */
    u64 done;                  /* bytes of this phase's span already in requests */
    int inflight;              /* requests the device has not finished */
    s64 error;
    int in_call;               /* the system call that started it is still running */
    s64 result;                /* for that system call, when it ends before it returns */
    u8 *edges;                 /* 1 KiB: sector s0, then sector s1 - 1 */
};

/* Per head descriptor: the request header and status byte the device reads and writes. */
struct blk_slot {
    u32 type, reserved;
    u64 sector;
    u8 status, pad[7];
    struct blk_op *op;
};
_Static_assert(sizeof(struct blk_slot) * VIRTQ_MAX == PAGE_SIZE, "one page of request slots");

struct blkdev {
    struct virtio_dev *vdev;
    char path[16];
    int index, read_only, has_flush;
    u64 sectors;
    u32 max_segs;              /* data descriptors per request */
    struct blk_slot *slots;
    struct blk_op *ops, *ops_tail; /* started and waiting operations, oldest first */
};

static struct blkdev disks[MAX_DISKS];
static int ndisks;

struct blkdev *blk_lookup(const char *path)
{
    for (int i = 0; i < ndisks; i++)
        if (!strcmp(path, disks[i].path)) return &disks[i];
    return NULL;
}

u64 blk_size_bytes(const struct blkdev *b) { return b->sectors * SECTOR; }
int blk_read_only(const struct blkdev *b) { return b->read_only; }
u64 blk_rdev(const struct blkdev *b) { return (254UL << 8) | (u64)(b->index * 16); }

static u64 span_bytes(const struct blk_op *op) { return (op->s1 - op->s0) * SECTOR; }
static u8 *tail_edge(const struct blk_op *op) { return op->edges + (op->s1 - 1 == op->s0 ? 0 : SECTOR); }

/* The physically contiguous piece of the data span at byte pos: [edge head][buffer][edge tail]. */
static u64 span_piece(struct blk_op *op, u64 pos, u64 *len)
{
    if (pos < op->head_skip) {
        *len = op->head_skip - pos;
        return virt_to_phys(op->edges) + pos;
    }
    pos -= op->head_skip;
    if (pos < op->len) {
        u64 run, pa = user_phys(op->proc, op->buf + pos, op->kind == OP_READ, &run);
        *len = MIN(run, op->len - pos);
        return pa;
    }
    pos -= op->len;
    *len = op->tail_skip - pos;
    return virt_to_phys(tail_edge(op)) + SECTOR - op->tail_skip + pos;
}

/* Queue one request; the caller checked there are n + 2 free descriptors. */
static void add_request(struct blkdev *b, struct blk_op *op, u32 type, u64 sector, struct virtq_seg *segs, int n)
{
    struct virtq *q = &b->vdev->q;
    struct blk_slot *s = &b->slots[q->free_head]; /* virtq_add takes the chain from the free head */
    s->type = type;
    s->sector = sector;
    s->status = 0xff;
    s->op = op;
    segs[0] = (struct virtq_seg){ virt_to_phys(s), 16, 0 };
    segs[n + 1] = (struct virtq_seg){ virt_to_phys(&s->status), 1, 1 };
    if (virtq_add(q, segs, n + 2) < 0) panic("virtio-blk: descriptors ran out");
    op->inflight++;
}

/* Read the partial first and last sectors of a write into the edge buffer. */
static int submit_edges(struct blkdev *b, struct blk_op *op)
{
    int first = op->head_skip || (op->tail_skip && op->s1 - 1 == op->s0);
    int last = op->tail_skip && op->s1 - 1 != op->s0;
    if (b->vdev->q.nfree < 3 * (first + last)) return 0;
    struct virtq_seg segs[3];
    if (first) {
        segs[1] = (struct virtq_seg){ virt_to_phys(op->edges), SECTOR, 1 };
        add_request(b, op, VIRTIO_BLK_T_IN, op->s0, segs, 1);
    }
    if (last) {
        segs[1] = (struct virtq_seg){ virt_to_phys(op->edges + SECTOR), SECTOR, 1 };
        add_request(b, op, VIRTIO_BLK_T_IN, op->s1 - 1, segs, 1);
    }
    op->done = span_bytes(op);
    return 1;
}

/* Queue requests for the rest of op's data span while descriptors last. 1: all queued. */
static int submit_data(struct blkdev *b, struct blk_op *op)
{
    struct virtq *q = &b->vdev->q;
    u64 total = span_bytes(op);
    int device_writes = op->kind == OP_READ;
    while (op->done < total && !op->error) {
        if (q->nfree < 3) return 0;
        int max = (int)MIN(b->max_segs, (u32)q->nfree - 2), n = 0;
        struct virtq_seg segs[VIRTQ_MAX];
        u64 pos = op->done;
        while (pos < total && n < max && pos - op->done < MAX_REQUEST_BYTES) {
            u64 len, pa = span_piece(op, pos, &len);
            if (pa == ~0UL) {
                op->error = -EFAULT;
                break;
            }
            len = MIN(len, op->done + MAX_REQUEST_BYTES - pos);
            if (n && segs[n].phys + segs[n].len == pa && segs[n].len + len <= MAX_REQUEST_BYTES) segs[n].len += (u32)len;
            else segs[++n] = (struct virtq_seg){ pa, (u32)len, (u32)device_writes };
            pos += len;
        }
        u64 cut = (pos - op->done) % SECTOR; /* whole sectors only: trim the end */
        for (; cut && n; n--) {
            if (segs[n].len > cut) {
                segs[n].len -= (u32)cut;
                break;
            }
            cut -= segs[n].len;
        }
        pos -= (pos - op->done) % SECTOR;
        if (n == 0 || pos == op->done) break; /* a fault at the start */
        add_request(b, op, op->kind == OP_READ ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, op->s0 + op->done / SECTOR, segs, n);
        op->done = pos;
    }
    return 1;
}

static int overlaps(const struct blk_op *a, const struct blk_op *b) { return a->s0 < b->s1 && b->s0 < a->s1; }
static int needs_edges(const struct blk_op *op) { return op->kind == OP_WRITE && (op->head_skip || op->tail_skip); }

/* May op start, given the operations ahead of it? */
static int may_start(struct blkdev *b, struct blk_op *op)
{
    if (op->kind != OP_WRITE) return 1;
    for (struct blk_op *o = b->ops; o != op; o = o->next)
        if (o->kind == OP_WRITE && overlaps(o, op) && (needs_edges(o) || needs_edges(op))) return 0;
    return 1;
}

static void finish(struct blkdev *b, struct blk_op *op)
{
    for (struct blk_op **pp = &b->ops, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next)
        if (*pp == op) {
            *pp = op->next;
            if (b->ops_tail == op) b->ops_tail = prev;
            break;
        }
    s64 result = op->error ? op->error : (s64)op->len;
    if (op->edges) kfree(op->edges, 2 * SECTOR);
    op->phase = PH_DONE;
    op->result = result;
    if (op->waiter) {
        op->waiter->io_op = NULL;
        wake_thread(op->waiter, result);
    }
    if (!op->in_call) kfree(op, sizeof *op); /* else run_op collects the result */
}

/* Move operations forward: start waiting ones, queue more requests, end finished ones. */
static void kick(struct blkdev *b)
{
    int queued = 0;
    for (struct blk_op *op = b->ops, *next; op; op = next) {
        next = op->next;
        if (op->phase == PH_WAITING) {
            if (!may_start(b, op)) continue;
            op->phase = needs_edges(op) ? PH_EDGES : PH_DATA;
            op->done = 0;
        }
        int all_sent = op->kind == OP_FLUSH ? op->done == 1 : op->done == span_bytes(op) || op->error;
        if (op->inflight == 0 && all_sent) {
            if (op->phase == PH_EDGES && !op->error) {
                op->phase = PH_DATA;
                op->done = 0;
            } else {
                finish(b, op);
                continue;
            }
        }
        int before = op->inflight, all;
        if (op->kind == OP_FLUSH) {
            all = op->done || b->vdev->q.nfree >= 2;
            if (!op->done && all) {
                struct virtq_seg segs[2];
                add_request(b, op, VIRTIO_BLK_T_FLUSH, 0, segs, 0);
                op->done = 1;
            }
        } else if (op->phase == PH_EDGES) {
            all = op->done || submit_edges(b, op);
        } else {
            all = submit_data(b, op);
            if (op->error && op->inflight == 0) { /* a bad buffer before any request */
                finish(b, op);
                continue;
            }
        }
        if (op->error) all = 1;
        queued |= op->inflight != before;
        if (!all) break; /* out of descriptors: later operations wait their turn */
    }
    if (queued) virtq_notify(b->vdev);
}

static void blk_interrupt(struct virtio_dev *d)
{
    struct blkdev *b = d->driver;
    for (int head; (head = virtq_next_used(&d->q)) >= 0;) {
        struct blk_slot *s = &b->slots[head];
        struct blk_op *op = s->op;
        s->op = NULL;
        if (!op) continue;
        if (s->status != 0 && !op->error) op->error = -EIO; /* IOERR (1) or UNSUPP (2) */
        op->inflight--;
    }
    kick(b);
}

/* Append op and start what can start. The result now, or RET_BLOCK with t waiting for it. */
static s64 run_op(struct thread *t, struct blkdev *b, struct blk_op *op)
{
    op->dev = b;
    op->proc = t->proc;
    if (b->ops_tail) b->ops_tail->next = op;
    else b->ops = op;
    b->ops_tail = op;
    op->in_call = 1;
    kick(b);
    op->in_call = 0;
    if (op->phase == PH_DONE) { /* failed before the device saw it */
        s64 r = op->result;
        kfree(op, sizeof *op);
        return r;
    }
    op->waiter = t;
    t->io_op = op;
    t->state = T_BLOCKED;
    return RET_BLOCK;
}

s64 blk_rw(struct thread *t, struct blkdev *b, int write, u64 buf, u64 len, u64 off)
{
    u64 size = blk_size_bytes(b);
    if (write && b->read_only) return -EPERM;
    if (off >= size) return write && len ? -28 /* ENOSPC */ : 0;
    len = MIN(len, size - off);
    if (!len) return 0;
    struct blk_op *op = kzalloc(sizeof *op);
    op->kind = write ? OP_WRITE : OP_READ;
    op->buf = buf;
    op->len = len;
    op->s0 = off / SECTOR;
    op->s1 = ALIGN_UP(off + len, SECTOR) / SECTOR;
    op->head_skip = (u32)(off % SECTOR);
    op->tail_skip = (u32)(op->s1 * SECTOR - off - len);
    if (op->head_skip || op->tail_skip) op->edges = kzalloc(2 * SECTOR);
    return run_op(t, b, op);
}

s64 blk_flush(struct thread *t, struct blkdev *b)
{
    if (!b->has_flush) return 0; /* no FLUSH feature: the device writes through */
    struct blk_op *op = kzalloc(sizeof *op);
    op->kind = OP_FLUSH;
    op->phase = PH_DATA;
    return run_op(t, b, op);
}

void blk_thread_gone(struct thread *t)
{
    struct blk_op *op = t->io_op;
    if (op) op->waiter = NULL;
    t->io_op = NULL;
}

int virtio_blk_probe(struct virtio_dev *d)
{
    if (ndisks == MAX_DISKS) return -1;
    if (virtio_start(d, VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH) < 0) {
        kprintf("ferry-guest: virtio-blk at 0x%lx: feature negotiation failed\n", d->base);
        return -1;
    }
    struct blkdev *b = &disks[ndisks];
    u64 slots = alloc_page();
    if (!slots) return -1;
    b->slots = phys_to_virt(slots);
    b->vdev = d;
    b->index = ndisks;
    b->sectors = virtio_config64(d, CFG_CAPACITY);
    b->read_only = (d->features & VIRTIO_BLK_F_RO) != 0;
    b->has_flush = (d->features & VIRTIO_BLK_F_FLUSH) != 0;
    u32 seg_max = (d->features & VIRTIO_BLK_F_SEG_MAX) ? virtio_config32(d, CFG_SEG_MAX) : 0;
    b->max_segs = d->q.size - 2;
    if (seg_max) b->max_segs = MIN(b->max_segs, MAX(seg_max, 4U)); /* 4: see submit_data */
    ksnprintf(b->path, sizeof b->path, "/dev/vd%c", 'a' + ndisks);
    d->driver = b;
    d->interrupt = blk_interrupt;
    virtio_ready(d);
    ndisks++;
    kprintf("ferry-guest: virtio-blk %s at 0x%lx gsi=%u sectors=%lu%s%s queue=%u segs=%u\n", b->path, d->base, d->gsi,
            b->sectors, b->read_only ? " read-only" : "", b->has_flush ? " flush" : "", d->q.size, b->max_segs);
    return 0;
}
