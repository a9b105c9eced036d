/* virtio-mmio transport (version 2, the virtio 1.x layout) and split virtqueues.
 *
 * Devices are found only through the command line, in Linux's syntax: one
 * virtio_mmio.device=SIZE@BASE:IRQ per device (SIZE like 512, 4K or 0x1000; BASE hex; IRQ a
 * GSI). Ferry puts device k at 0xD0000000 + k * 0x1000 with GSI 16 + k; QEMU microvm with
 * acpi=off writes its own. Each device gets one LAPIC vector (VEC_VIRTIO_FIRST + its index),
 * routed edge-triggered to the boot vCPU.
 *
 * Why this fits kvm_pvm (CPL 0 emulated at ~0.5 us an instruction): the kernel only fills
 * descriptors with the physical addresses of the program's own pages and reads the used ring;
 * the device moves the data. No byte of a request passes through kernel code, and one
 * interrupt finishes every request the device completed since the last one. */
#include "virtio.h"
#include "apic.h"
#include "ioapic.h"

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEVICE_FEATURES 0x010
#define R_DEVICE_FEATURES_SEL 0x014
#define R_DRIVER_FEATURES 0x020
#define R_DRIVER_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INTERRUPT_STATUS 0x060
#define R_INTERRUPT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC 0x080    /* low, high at +4 */
#define R_QUEUE_DRIVER 0x090
#define R_QUEUE_DEVICE 0x0a0
#define R_CONFIG_GENERATION 0x0fc
#define R_CONFIG 0x100

#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_FAILED 128

static struct virtio_dev devices[VIRTIO_MAX_DEVICES];
static int ndevices;

static u32 rd(struct virtio_dev *d, u32 off) { return *(volatile u32 *)(d->regs + off); }
static void wr(struct virtio_dev *d, u32 off, u32 v) { *(volatile u32 *)(d->regs + off) = v; }
static void wr64(struct virtio_dev *d, u32 off, u64 v)
{
    wr(d, off, (u32)v);
    wr(d, off + 4, (u32)(v >> 32));
}

u32 virtio_config32(struct virtio_dev *d, u32 off) { return rd(d, R_CONFIG + off); }
/* Narrower fields are read at their own width, as virtio-mmio asks. */
u16 virtio_config16(struct virtio_dev *d, u32 off) { return *(volatile u16 *)(d->regs + R_CONFIG + off); }
u8 virtio_config8(struct virtio_dev *d, u32 off) { return *(volatile u8 *)(d->regs + R_CONFIG + off); }

/* A 64-bit field is two reads; ConfigGeneration tells whether the device changed it between. */
u64 virtio_config64(struct virtio_dev *d, u32 off)
{
    for (;;) {
        u32 gen = rd(d, R_CONFIG_GENERATION);
        u64 v = rd(d, R_CONFIG + off) | (u64)rd(d, R_CONFIG + off + 4) << 32;
        if (rd(d, R_CONFIG_GENERATION) == gen) return v;
    }
}

/* ---- split virtqueue ---- */

int virtio_setup_queue(struct virtio_dev *d, u32 index, struct virtq *q)
{
    wr(d, R_QUEUE_SEL, index);
    if (rd(d, R_QUEUE_READY)) return -1;
    u32 max = rd(d, R_QUEUE_NUM_MAX);
    if (!max) return -1;
    u32 size = VIRTQ_MAX;
    while (size > max) size >>= 1;
    u64 page = alloc_page(); /* fresh RAM: already zero, so both rings start empty */
    if (!page) return -1;
    u8 *va = phys_to_virt(page);
    q->size = (u16)size;
    q->desc = (struct virtq_desc *)va;
    q->avail = (volatile u16 *)(va + 16 * VIRTQ_MAX);                     /* 2-byte aligned */
    q->used = (volatile u32 *)(va + 16 * VIRTQ_MAX + ALIGN_UP(6 + 2 * VIRTQ_MAX, 4)); /* 4 */
    for (u16 i = 0; i < size; i++) q->desc[i].next = (u16)(i + 1);
    q->free_head = 0;
    q->nfree = (u16)size;
    wr(d, R_QUEUE_NUM, size);
    wr64(d, R_QUEUE_DESC, page);
    wr64(d, R_QUEUE_DRIVER, virt_to_phys((const void *)q->avail));
    wr64(d, R_QUEUE_DEVICE, virt_to_phys((const void *)q->used));
    wr(d, R_QUEUE_READY, 1);
    return 0;
}

int virtq_add(struct virtq *q, const struct virtq_seg *segs, int n)
{
    if (n <= 0 || n > q->nfree) return -1;
    u16 head = q->free_head, i = head;
    for (int k = 0; k < n; k++) {
        struct virtq_desc *dsc = &q->desc[i];
        dsc->addr = segs[k].phys;
        dsc->len = segs[k].len;
        dsc->flags = (u16)((segs[k].device_writes ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        if (k + 1 < n) i = dsc->next;
    }
    q->free_head = q->desc[i].next;
    q->nfree = (u16)(q->nfree - n);
    q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
    barrier(); /* x86 keeps stores in order; the compiler must too: the entry before the index */
    q->avail[1] = ++q->avail_idx;
    return head;
}

/* One MMIO write (an exit to the VMM) for everything added since the last one. */
void virtq_notify_queue(struct virtio_dev *d, u32 index)
{
    barrier();
    wr(d, R_QUEUE_NOTIFY, index);
}

void virtq_notify(struct virtio_dev *d) { virtq_notify_queue(d, 0); }

int virtq_next_used(struct virtq *q)
{
    u32 len;
    return virtq_next_used_len(q, &len);
}

int virtq_next_used_len(struct virtq *q, u32 *len)
{
    u16 used_idx = (u16)(q->used[0] >> 16);
    if (used_idx == q->last_used) return -1;
    barrier();
    u32 id = q->used[1 + 2 * (q->last_used & (q->size - 1))];
    *len = q->used[2 + 2 * (q->last_used & (q->size - 1))];
    q->last_used++;
    if (id >= q->size) panic("virtio: the device returned descriptor %u of %u", id, q->size);
    u16 i = (u16)id, n = 1;
    while (q->desc[i].flags & VIRTQ_DESC_F_NEXT) i = q->desc[i].next, n++;
    q->desc[i].next = q->free_head;
    q->free_head = (u16)id;
    q->nfree = (u16)(q->nfree + n);
    return (int)id;
}

/* ---- devices ---- */

/* Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 and what the driver wants), FEATURES_OK,
 * queue 0. The driver reads its config, sets up further queues (virtio_setup_queue) and then
 * calls virtio_ready(). */
static int virtio_negotiate(struct virtio_dev *d, u64 wanted)
{
    wr(d, R_STATUS, 0);
    wr(d, R_STATUS, S_ACKNOWLEDGE);
    wr(d, R_STATUS, S_ACKNOWLEDGE | S_DRIVER);
    wr(d, R_DEVICE_FEATURES_SEL, 0);
    u64 offered = rd(d, R_DEVICE_FEATURES);
    wr(d, R_DEVICE_FEATURES_SEL, 1);
    offered |= (u64)rd(d, R_DEVICE_FEATURES) << 32;
    if (!(offered & VIRTIO_F_VERSION_1)) return -1;
    d->features = offered & (wanted | VIRTIO_F_VERSION_1);
    wr(d, R_DRIVER_FEATURES_SEL, 0);
    wr(d, R_DRIVER_FEATURES, (u32)d->features);
    wr(d, R_DRIVER_FEATURES_SEL, 1);
    wr(d, R_DRIVER_FEATURES, (u32)(d->features >> 32));
    wr(d, R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if (!(rd(d, R_STATUS) & S_FEATURES_OK)) return -1;
    return virtio_setup_queue(d, 0, &d->q);
}

int virtio_start(struct virtio_dev *d, u64 wanted)
{
    if (virtio_negotiate(d, wanted) < 0) {
        wr(d, R_STATUS, S_FAILED);
        return -1;
    }
    return 0;
}

void virtio_ready(struct virtio_dev *d)
{
    wr(d, R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

int virtio_is_vector(u64 vector) { return vector >= VEC_VIRTIO_FIRST && vector < VEC_VIRTIO_FIRST + (u64)ndevices; }

/* Acknowledge first, then drain the used ring: a completion after the acknowledgement raises
 * the line again (a new edge), one before it is in the ring already. */
void virtio_interrupt(u64 vector)
{
    struct virtio_dev *d = &devices[vector - VEC_VIRTIO_FIRST];
    u32 status = rd(d, R_INTERRUPT_STATUS);
    if (status) wr(d, R_INTERRUPT_ACK, status);
    apic_eoi();
    d->interrupt(d);
}

/* A number as the parameter writes it: 0x hex or decimal, with an optional K, M or G. */
static u64 parse_number(const char **pp)
{
    const char *p = *pp;
    u64 v = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        for (p += 2;; p++) {
            u8 c = (u8)*p, x = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 0xff;
            if (x == 0xff) break;
            v = v << 4 | x;
        }
    } else {
        for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (u64)(*p - '0');
    }
    if (*p == 'K' || *p == 'k') v <<= 10, p++;
    else if (*p == 'M' || *p == 'm') v <<= 20, p++;
    else if (*p == 'G' || *p == 'g') v <<= 30, p++;
    *pp = p;
    return v;
}

static void probe(u64 size, u64 base, u32 gsi)
{
    if (ndevices == VIRTIO_MAX_DEVICES || size < 0x200 || base >= (4UL << 30) || base & 3) {
        kprintf("ferry-guest: virtio-mmio at 0x%lx: ignored (bad parameter or too many devices)\n", base);
        return;
    }
    struct virtio_dev *d = &devices[ndevices];
    d->base = base;
    d->regs = phys_to_virt(base); /* the direct map: below 4 GiB, outside RAM, uncached */
    d->gsi = gsi;
    if (rd(d, R_MAGIC) != 0x74726976) {
        kprintf("ferry-guest: virtio-mmio at 0x%lx: no device (magic 0x%x)\n", base, rd(d, R_MAGIC));
        return;
    }
    u32 version = rd(d, R_VERSION);
    d->device_id = rd(d, R_DEVICE_ID);
    if (d->device_id == 0) return; /* a transport with nothing behind it (QEMU microvm has many) */
    if (version != 2) {
        kprintf("ferry-guest: virtio-mmio at 0x%lx: version %u, not 2 (legacy devices are not supported)\n", base, version);
        return;
    }
    d->vector = (u8)(VEC_VIRTIO_FIRST + ndevices);
    if (d->device_id != VIRTIO_ID_BLOCK && d->device_id != VIRTIO_ID_NET) return; /* no driver */
    if (ioapic_route(gsi, d->vector, cpus[0]->apic_id) < 0) {
        kprintf("ferry-guest: virtio-mmio at 0x%lx: no IOAPIC pin for GSI %u\n", base, gsi);
        return;
    }
    ndevices++;
    if ((d->device_id == VIRTIO_ID_BLOCK ? virtio_blk_probe(d) : virtio_net_probe(d)) < 0) {
        ndevices--;
        wr(d, R_STATUS, S_FAILED);
    }
}

/* Every virtio_mmio.device=SIZE@BASE:IRQ[:ID] word of the command line. */
void virtio_init(const char *cmd)
{
    static const char key[] = "virtio_mmio.device=";
    for (const char *p = cmd; *p;) {
        p += str_span(p, 'v', 0);
        if (!*p) break;
        if ((p != cmd && p[-1] != ' ') || strncmp(p, key, sizeof key - 1)) {
            p++;
            continue;
        }
        p += sizeof key - 1;
        u64 size = parse_number(&p), base = 0, irq = 0;
        int ok = *p == '@';
        if (ok) p++, base = parse_number(&p);
        ok = ok && *p == ':';
        if (ok) p++, irq = parse_number(&p);
        ok = ok && (*p == ' ' || *p == ':' || !*p);
        if (ok) probe(size, base, (u32)irq);
        else kprintf("ferry-guest: cannot parse a virtio_mmio.device= parameter\n");
    }
}
