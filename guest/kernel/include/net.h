/* Network cards (virtio-net) as raw Ethernet interfaces for programs: /dev/net0, /dev/net1, ...
 * The program-facing ABI (ioctl numbers, the shared rings' layout) is described in
 * docs/test-guest.md, "Network", and mirrored for programs in guest/workloads/ferry_net.h. */
#pragma once
#include "proc.h"

#define NET_SLOT 2048          /* one receive or transmit buffer: 12-byte header + frame */
#define NET_HDR 12             /* struct virtio_net_hdr_v1 (VERSION_1: num_buffers included) */
#define NET_MAX_FRAME 1514     /* Ethernet header + 1500; no VLAN tag, no FCS */
#define NET_CTL_OFF 0x40000    /* control area of each shared page: after 128 slots */
#define NET_VA 0x7fe000000000UL /* device k: receive page at + 4 MiB * k, transmit page 2 MiB on */

#define FERRY_NET_INFO 0x80304e01   /* struct net_info *: fills it, maps the shared pages */
#define FERRY_NET_SYNC 0x4e02       /* send the queued frames, hand out received ones */

struct net_info {
    u8 mac[6];
    u16 mtu;
    u16 link_up;               /* 1 unless the device has STATUS and reports the link down */
    u16 slots;                 /* receive slots = transmit slots */
    u32 slot_size;             /* NET_SLOT */
    u64 rx_va, tx_va;          /* the shared pages in this process */
    u64 reserved[2];
};

/* In the receive page at NET_CTL_OFF: written by the kernel only (read-only to programs). */
struct net_rxctl {
    u32 tx_free;               /* transmit slots free from tx_next on */
    u32 tx_next;               /* the transmit slot the program fills next */
    u64 rx_frames, tx_frames;  /* totals */
    u32 rx[128];               /* the last FERRY_NET_SYNC's frames: slot << 16 | length */
};

/* In the transmit page at NET_CTL_OFF: written by the program, read by the kernel. */
struct net_txctl {
    u64 timeout_ns;            /* FERRY_NET_SYNC waits this long for a frame; 0: no wait, ~0: for ever */
    u32 tx_count;              /* frames put in slots tx_next, tx_next + 1, ... (mod slots) */
    u32 rx_max;                /* hand out at most this many frames */
    u16 tx_len[128];           /* their lengths (the frame at slot offset 12; bytes 0-11 zero) */
};

struct netdev;
struct netdev *net_lookup(const char *path);
u64 net_rdev(const struct netdev *n);
s64 net_read(struct thread *t, struct frame *f, struct netdev *n, u64 buf, u64 count, int nonblock);
s64 net_write(struct thread *t, struct netdev *n, u64 buf, u64 count);
s64 net_open(struct proc *p, struct netdev *n);   /* maps the shared pages */
s64 net_ioctl(struct thread *t, struct netdev *n, u64 cmd, u64 arg);
void net_thread_gone(struct thread *t);
