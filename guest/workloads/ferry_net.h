/*
 * ferry_net.h - the test guest's raw Ethernet interface (/dev/net0, ...), for programs.
 * Mirrors guest/kernel/include/net.h; described in docs/test-guest.md, "Network".
 *
 * read() returns one received frame, write() sends one (14..1514 bytes, no FCS). The batch
 * interface below avoids a system call per frame: open the card, FERRY_NET_INFO maps its
 * receive page (read-only) and transmit page (read-write) into the process; then each
 * FERRY_NET_SYNC
 *   1. sends the tx_count frames the program put in transmit slots tx_next, tx_next+1, ...
 *      (frame at slot offset 12; bytes 0-11, the virtio-net header, stay zero; lengths in
 *      txctl->tx_len[]), at most rxctl->tx_free of them;
 *   2. gives the slots of the previous call's frames back to the card;
 *   3. returns the number of frames received since (at most rx_max, 0 = all), listed in
 *      rxctl->rx[] as slot << 16 | length (the frame at rx_va + slot * slot_size + 12),
 *      waiting up to txctl->timeout_ns for one when none is there (0: no wait, ~0: for ever).
 * A negative result is -errno (ENOBUFS: a transmit slot was still busy, EINVAL: a length).
 */
#ifndef FERRY_NET_H
#define FERRY_NET_H
#include <stdint.h>

#define FERRY_NET_INFO 0x80304e01
#define FERRY_NET_SYNC 0x4e02
#define FERRY_NET_HDR 12
#define FERRY_NET_CTL_OFF 0x40000

struct ferry_net_info {
    uint8_t mac[6];
    uint16_t mtu;
    uint16_t link_up;
    uint16_t slots;
    uint32_t slot_size;
    uint64_t rx_va, tx_va;
    uint64_t reserved[2];
};

struct ferry_net_rxctl {          /* rx_va + FERRY_NET_CTL_OFF, written by the kernel */
    volatile uint32_t tx_free;
    volatile uint32_t tx_next;
    volatile uint64_t rx_frames, tx_frames;
    volatile uint32_t rx[128];
};

struct ferry_net_txctl {          /* tx_va + FERRY_NET_CTL_OFF, written by the program */
    uint64_t timeout_ns;
    uint32_t tx_count;
    uint32_t rx_max;
    uint16_t tx_len[128];
};
#endif
