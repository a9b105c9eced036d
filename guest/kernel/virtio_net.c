/* virtio-net: each card is a raw Ethernet interface for programs, /dev/net0, /dev/net1, ...
 * (a user-space TCP/IP stack drives it: lwIP in the netserve workload).
 *
 * Why this shape (kvm_pvm emulates CPL-0 code at ~0.5-1 us an instruction; a 1.5 KiB copy at
 * CPL 0 costs ~0.2 ms, a system call ~90 us): frames are never copied by the kernel on the
 * main path, and one system call moves a batch of them both ways.
 *   - Each card has two fresh 2 MiB pages, the receive page and the transmit page, mapped into
 *     every process that opens the card (receive read-only, transmit read-write). Each holds
 *     `slots` 2 KiB buffers (12-byte virtio_net_hdr_v1 + frame) and, at NET_CTL_OFF, a small
 *     control area (struct net_rxctl / net_txctl, include/net.h).
 *   - The receive queue holds one descriptor per free receive slot; the device writes the
 *     frame straight into the page the program reads.
 *   - ioctl FERRY_NET_SYNC: posts the frames the program put in its next transmit slots (their
 *     lengths in the transmit control area: the kernel reads a few words through its own
 *     mapping, no copy from user memory), gives the receive slots of the previous call back to
 *     the device, and lists the frames received since (slot << 16 | length) in the receive
 *     control area; it waits, up to a timeout, when none has arrived. So a program's event
 *     loop costs one system call per round, whatever the number of frames.
 *   - read() and write() work too, for ordinary programs: read returns one frame (truncated to
 *     the buffer), copied by the CPL-3 copy helper from the receive page when it is longer
 *     than 256 bytes, by the kernel when short or when the frame arrives while the reader
 *     sleeps (the interrupt hands it over); O_NONBLOCK gives EAGAIN. write sends one frame
 *     from the program's own pages (a descriptor for a 12-byte zero header, then the buffer's
 *     pages) and returns once the device has taken it. The two styles are not meant to be
 *     mixed on one card, and one program at a time should use a card.
 * Interrupts are suppressed unless a thread waits (see want_interrupts). All of it runs
 * under big_lock. */
#include "syscalls.h"
#include "virtio.h"
#include "clock.h"
#include "net.h"

#define VIRTIO_NET_F_MTU (1UL << 3)
#define VIRTIO_NET_F_MAC (1UL << 5)
#define VIRTIO_NET_F_STATUS (1UL << 16)
#define CFG_MAC 0
#define CFG_STATUS 6
#define CFG_MTU 10
#define MAX_NETS 4
#define NO_SLOT 0xffff
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define NET_WAIT_MARK 1UL /* futex_uaddr of a thread waiting for a frame: never a futex */
#define SMALL_COPY 256
enum { W_NONE, W_SYNC, W_READ };

extern char helper_copy[];

struct netdev {
    struct virtio_dev *vdev;
    char path[16];
    int index;
    u8 mac[6];
    u16 mtu, status;
    u16 slots;
    u8 *rx, *tx;                    /* the shared pages, kernel view */
    u64 rx_phys, tx_phys;
    struct net_rxctl *rxctl;
    struct net_txctl *txctl;
    u8 *zero_hdr;                   /* the header write() sends */
    u16 rx_slot_of[VIRTQ_MAX];      /* receive descriptor head -> slot */
    u16 tx_slot_of[VIRTQ_MAX];      /* transmit head -> slot, NO_SLOT for a write() */
    struct thread *tx_waiter[VIRTQ_MAX]; /* write(): the thread, by head */
    int tx_waiting;                 /* how many of them */
    u16 tx_wlen[VIRTQ_MAX];
    u8 tx_busy[VIRTQ_MAX];
    u16 tx_next;
    u16 ready_slot[VIRTQ_MAX], ready_len[VIRTQ_MAX]; /* received, not yet handed out (FIFO) */
    u32 ready_head, ready_count;
    u16 held[VIRTQ_MAX];            /* handed out; back to the device at the next call */
    u32 nheld;
    struct thread *waiter;          /* waits for a frame (FERRY_NET_SYNC or read) */
    int wait_kind;
    u32 wait_max;
    u64 wait_buf, wait_count;
};

static struct netdev nets[MAX_NETS];
static int nnets;

struct netdev *net_lookup(const char *path)
{
    for (int i = 0; i < nnets; i++)
        if (!strcmp(path, nets[i].path)) return &nets[i];
    return NULL;
}

u64 net_rdev(const struct netdev *n) { return (10UL << 8) | (u64)(200 + n->index); }

static void post_rx(struct netdev *n, u16 slot)
{
    struct virtq_seg seg = { n->rx_phys + (u64)slot * NET_SLOT, NET_SLOT, 1 };
    int head = virtq_add(&n->vdev->q, &seg, 1);
    if (head < 0) panic("virtio-net: receive descriptors ran out");
    n->rx_slot_of[head] = slot;
}

/* The slots handed out by the previous call go back to the device. 1: some did. */
static int repost_held(struct netdev *n)
{
    for (u32 i = 0; i < n->nheld; i++) post_rx(n, n->held[i]);
    int any = n->nheld != 0;
    n->nheld = 0;
    return any;
}

static void update_tx_free(struct netdev *n)
{
    u32 free = 0;
    while (free < n->slots && !n->tx_busy[(n->tx_next + free) % n->slots]) free++;
    n->rxctl->tx_free = free;
    n->rxctl->tx_next = n->tx_next;
}

/* Hand out up to max received frames in the receive control area; their number. */
static u32 take_ready(struct netdev *n, u32 max)
{
    u32 k = 0;
    if (!max || max > n->slots) max = n->slots;
    while (k < max && n->ready_count) {
        u32 i = n->ready_head;
        n->rxctl->rx[k++] = (u32)n->ready_slot[i] << 16 | n->ready_len[i];
        n->held[n->nheld++] = n->ready_slot[i];
        n->ready_head = (i + 1) % n->slots;
        n->ready_count--;
    }
    return k;
}

static int still_waiting(struct thread *t) { return t && t->waiting && t->futex_uaddr == NET_WAIT_MARK; }

/* Interrupts are asked for only when somebody waits: on the receive queue while a thread
 * sleeps for a frame, on the transmit queue while a write() waits for its frame to go. Else
 * FERRY_NET_SYNC and read() collect the used rings themselves, so a busy event loop takes no
 * interrupts at all (each costs tens of emulated microseconds). */
static void want_interrupts(struct virtq *q, int on)
{
    q->avail[0] = on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
    __asm__ volatile("lock orl $0, (%%rsp)" ::: "memory", "cc"); /* the flag before the used index */
}

/* Take what the device finished on both queues. 1: receive buffers were given back. */
static int collect(struct netdev *n)
{
    struct virtio_dev *d = n->vdev;
    int repost = 0;
    u32 len;
    for (int head; (head = virtq_next_used_len(&d->q, &len)) >= 0;) {
        u16 slot = n->rx_slot_of[head];
        if (len < NET_HDR + 14 || len > NET_HDR + NET_MAX_FRAME) { /* nothing usable: reuse it */
            post_rx(n, slot);
            repost = 1;
            continue;
        }
        u32 i = (n->ready_head + n->ready_count) % n->slots;
        n->ready_slot[i] = slot;
        n->ready_len[i] = (u16)(len - NET_HDR);
        n->ready_count++;
        n->rxctl->rx_frames++;
    }
    int sent = 0;
    for (int head; (head = virtq_next_used_len(&d->q1, &len)) >= 0;) {
        u16 slot = n->tx_slot_of[head];
        n->rxctl->tx_frames++;
        sent = 1;
        if (slot != NO_SLOT) {
            n->tx_busy[slot] = 0;
        } else if (n->tx_waiter[head]) {
            struct thread *t = n->tx_waiter[head];
            n->tx_waiter[head] = NULL;
            n->tx_waiting--;
            wake_thread(t, n->tx_wlen[head]);
        }
    }
    if (sent) update_tx_free(n);
    return repost;
}

static void net_interrupt(struct virtio_dev *d)
{
    struct netdev *n = d->driver;
    int repost = collect(n);
    if (!n->tx_waiting) want_interrupts(&d->q1, 0);
    struct thread *w = n->waiter;
    if (!still_waiting(w)) { /* nobody sleeps for a frame (any more) */
        n->waiter = NULL;
        want_interrupts(&d->q, 0);
    } else if (n->ready_count) {
        n->waiter = NULL;
        want_interrupts(&d->q, 0);
        if (n->wait_kind == W_SYNC) {
            wake_thread(w, take_ready(n, n->wait_max));
        } else { /* a sleeping read(): the kernel copies this one frame */
            u32 i = n->ready_head;
            u16 slot = n->ready_slot[i];
            u64 cnt = MIN(n->wait_count, (u64)n->ready_len[i]);
            n->ready_head = (i + 1) % n->slots;
            n->ready_count--;
            s64 r = copy_to_user(w->proc, n->wait_buf, n->rx + (u64)slot * NET_SLOT + NET_HDR, cnt) < 0 ? -EFAULT : (s64)cnt;
            post_rx(n, slot);
            repost = 1;
            wake_thread(w, r);
        }
    }
    if (repost) virtq_notify_queue(d, 0);
}

/* t waits for a frame until the deadline (0: for ever); the interrupt or the timer wakes it. */
static s64 wait_frame(struct thread *t, struct netdev *n, int kind, u64 deadline)
{
    if (still_waiting(n->waiter) && n->waiter != t) return -16; /* EBUSY: one reader at a time */
    /* Interrupts on, then look once more: a frame that came before they were on is seen now,
     * one after raises an interrupt. */
    want_interrupts(&n->vdev->q, 1);
    if (collect(n)) virtq_notify_queue(n->vdev, 0);
    if (n->ready_count) {
        want_interrupts(&n->vdev->q, 0);
        return -EAGAIN; /* the caller takes it */
    }
    n->waiter = t;
    n->wait_kind = kind;
    t->futex_uaddr = NET_WAIT_MARK;
    t->futex_bitset = 0;
    t->deadline = deadline;
    t->timeout_result = 0;
    t->net_wait = 1;
    wait_add(t);
    return RET_BLOCK;
}

static s64 net_sync(struct thread *t, struct netdev *n)
{
    volatile struct net_txctl *tc = n->txctl;
    u64 timeout = tc->timeout_ns;
    u32 count = MIN(tc->tx_count, (u32)n->slots), max = tc->rx_max;
    int rx_notify = collect(n) | repost_held(n);
    struct virtq *q = &n->vdev->q1;
    u32 posted = 0;
    s64 err = 0;
    for (; posted < count; posted++) {
        u16 slot = n->tx_next, len = tc->tx_len[posted];
        if (n->tx_busy[slot] || !q->nfree) {
            err = -ENOBUFS;
            break;
        }
        if (len < 14 || len > NET_MAX_FRAME) {
            err = -EINVAL;
            break;
        }
        struct virtq_seg seg = { n->tx_phys + (u64)slot * NET_SLOT, NET_HDR + len, 0 };
        int head = virtq_add(q, &seg, 1);
        n->tx_slot_of[head] = slot;
        n->tx_busy[slot] = 1;
        n->tx_next = (u16)((slot + 1) % n->slots);
    }
    if (posted) virtq_notify_queue(n->vdev, 1);
    if (rx_notify) virtq_notify_queue(n->vdev, 0);
    update_tx_free(n);
    if (err) return err;
    u32 got = take_ready(n, max);
    if (got || !timeout) return got;
    n->wait_max = max;
    s64 r = wait_frame(t, n, W_SYNC, timeout == ~0UL ? 0 : clock_ns() + MAX(timeout, 1UL));
    return r == -EAGAIN ? take_ready(n, max) : r;
}

s64 net_read(struct thread *t, struct frame *f, struct netdev *n, u64 buf, u64 count, int nonblock)
{
    if (collect(n) | repost_held(n)) virtq_notify_queue(n->vdev, 0);
    if (!n->ready_count) {
        if (nonblock) return -EAGAIN;
        n->wait_buf = buf;
        n->wait_count = count;
        s64 r = wait_frame(t, n, W_READ, 0);
        if (r != -EAGAIN) return r;
    }
    u32 i = n->ready_head;
    u16 slot = n->ready_slot[i];
    u64 cnt = MIN(count, (u64)n->ready_len[i]);
    n->ready_head = (i + 1) % n->slots;
    n->ready_count--;
    n->held[n->nheld++] = slot; /* back to the device at the next call */
    u64 src = (u64)slot * NET_SLOT + NET_HDR;
    if (cnt <= SMALL_COPY) return copy_to_user(t->proc, buf, n->rx + src, cnt) < 0 ? -EFAULT : (s64)cnt;
    t->helper_ret = *f;
    t->helper_ret.rax = cnt;
    run_helper(t, f, H_SYSRET, tramp_va(helper_copy), buf, NET_VA + 4 * HUGE_SIZE * (u64)n->index + src, cnt, 0);
    return RET_NOTOUCH;
}

s64 net_write(struct thread *t, struct netdev *n, u64 buf, u64 count)
{
    if (count < 14 || count > NET_MAX_FRAME) return -EINVAL;
    struct virtq_seg segs[4];
    int nseg = 1;
    segs[0] = (struct virtq_seg){ virt_to_phys(n->zero_hdr), NET_HDR, 0 };
    for (u64 pos = 0; pos < count; nseg++) {
        u64 run, pa = user_phys(t->proc, buf + pos, 0, &run);
        if (pa == ~0UL) return -EFAULT;
        run = MIN(run, count - pos);
        segs[nseg] = (struct virtq_seg){ pa, (u32)run, 0 };
        pos += run;
    }
    struct virtq *q = &n->vdev->q1;
    if (q->nfree < nseg) return -ENOBUFS;
    int head = virtq_add(q, segs, nseg);
    n->tx_slot_of[head] = NO_SLOT;
    n->tx_waiter[head] = t;
    n->tx_wlen[head] = (u16)count;
    if (!n->tx_waiting++) want_interrupts(q, 1); /* before the notify: the device sees it */
    t->net_wait = 1;
    t->state = T_BLOCKED;
    virtq_notify_queue(n->vdev, 1);
    return RET_BLOCK;
}

/* Map the shared pages into p (once). */
static int map_pages(struct proc *p, struct netdev *n)
{
    u64 va = NET_VA + 4 * HUGE_SIZE * (u64)n->index;
    if (vma_find(p, va)) return 0;
    if (map_huge(p->pml4, va, n->rx_phys, PTE_U) || map_huge(p->pml4, va + HUGE_SIZE, n->tx_phys, PTE_U | PTE_W))
        return -ENOMEM;
    vma_set(p, va, va + HUGE_SIZE, PROT_READ, VMA_PHYS);
    vma_set(p, va + HUGE_SIZE, va + 2 * HUGE_SIZE, PROT_READ | PROT_WRITE, VMA_PHYS);
    return 0;
}

s64 net_open(struct proc *p, struct netdev *n) { return map_pages(p, n); }

s64 net_ioctl(struct thread *t, struct netdev *n, u64 cmd, u64 arg)
{
    if (cmd == FERRY_NET_SYNC) return net_sync(t, n);
    if (cmd != FERRY_NET_INFO) return -ENOTTY;
    struct net_info info;
    memset(&info, 0, sizeof info);
    memcpy(info.mac, n->mac, 6);
    info.mtu = n->mtu;
    info.link_up = (n->vdev->features & VIRTIO_NET_F_STATUS) ? (virtio_config16(n->vdev, CFG_STATUS) & 1) : 1;
    info.slots = n->slots;
    info.slot_size = NET_SLOT;
    info.rx_va = NET_VA + 4 * HUGE_SIZE * (u64)n->index;
    info.tx_va = info.rx_va + HUGE_SIZE;
    if (map_pages(t->proc, n)) return -ENOMEM;
    return copy_to_user(t->proc, arg, &info, sizeof info) < 0 ? -EFAULT : 0;
}

void net_thread_gone(struct thread *t)
{
    for (int k = 0; k < nnets; k++) {
        struct netdev *n = &nets[k];
        if (n->waiter == t) n->waiter = NULL;
        for (int i = 0; i < VIRTQ_MAX; i++)
            if (n->tx_waiter[i] == t) n->tx_waiter[i] = NULL, n->tx_waiting--;
    }
    t->net_wait = 0;
}

int virtio_net_probe(struct virtio_dev *d)
{
    if (nnets == MAX_NETS) return -1;
    if (virtio_start(d, VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MTU) < 0 ||
        virtio_setup_queue(d, 1, &d->q1) < 0) {
        kprintf("ferry-guest: virtio-net at 0x%lx: feature negotiation or queue set-up failed\n", d->base);
        return -1;
    }
    struct netdev *n = &nets[nnets];
    n->rx_phys = alloc_huge();
    n->tx_phys = alloc_huge();
    n->zero_hdr = kzalloc(16);
    if (!n->rx_phys || !n->tx_phys) return -1;
    n->rx = phys_to_virt(n->rx_phys);
    n->tx = phys_to_virt(n->tx_phys);
    n->rxctl = (struct net_rxctl *)(n->rx + NET_CTL_OFF);
    n->txctl = (struct net_txctl *)(n->tx + NET_CTL_OFF);
    n->vdev = d;
    n->index = nnets;
    n->slots = MIN(d->q.size, d->q1.size);
    if (d->features & VIRTIO_NET_F_MAC) {
        for (int i = 0; i < 6; i++) n->mac[i] = virtio_config8(d, CFG_MAC + (u32)i);
    } else { /* none given: a locally administered one */
        n->mac[0] = 0x52, n->mac[1] = 0x54, n->mac[2] = 0x00, n->mac[3] = 0xfe, n->mac[5] = (u8)nnets;
    }
    n->mtu = (d->features & VIRTIO_NET_F_MTU) ? virtio_config16(d, CFG_MTU) : 1500;
    if (n->mtu > 1500) n->mtu = 1500; /* no MRG_RXBUF: a frame must fit one 2 KiB buffer */
    int up = (d->features & VIRTIO_NET_F_STATUS) ? virtio_config16(d, CFG_STATUS) & 1 : 1;
    ksnprintf(n->path, sizeof n->path, "/dev/net%d", nnets);
    d->driver = n;
    d->interrupt = net_interrupt;
    virtio_ready(d);
    want_interrupts(&d->q, 0);
    want_interrupts(&d->q1, 0);
    for (u16 s = 0; s < n->slots; s++) post_rx(n, s);
    virtq_notify_queue(d, 0);
    update_tx_free(n);
    nnets++;
    kprintf("ferry-guest: virtio-net %s at 0x%lx gsi=%u mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u link=%s queue=%u\n",
            n->path, d->base, d->gsi, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5], n->mtu,
            up ? "up" : "down", n->slots);
    return 0;
}
