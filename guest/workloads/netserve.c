/*
 * netserve - a network service on the guest's raw Ethernet interface, with lwIP as the stack.
 *
 *   netserve --ip ADDR/PREFIX [--gw ADDR] [--tcp-port 7000] [--udp-port 7001]
 *            [--echo-port 7002] [--tcp-rate N] [--hb-ms MS] [--seconds S] [--device /dev/net0]
 *
 *   ARP and ICMP echo      answered by lwIP
 *   UDP --udp-port         every datagram is sent back to its sender unchanged
 *   TCP --tcp-port         the sequence stream: from the moment a connection is accepted the
 *                          server sends 8-byte big-endian counters 0, 1, 2, ... (so a client
 *                          checks that record k holds k: no loss, no reordering, no
 *                          duplicates); as fast as the window allows, or N counters a second
 *                          with --tcp-rate N. What the client sends on it is read and dropped.
 *   TCP --echo-port        every byte received is sent back (request/response latency)
 *
 * Output (one write() per line):
 *   netserve ready ip=A.B.C.D/P mac=xx:xx:xx:xx:xx:xx mtu=M tcp=7000 udp=7001 echo=7002
 *   HB <seq> <CLOCK_MONOTONIC ns> <counters streamed total>   every MS ms (default 1000)
 *   netserve conn open|close port=P peer=A.B.C.D:PORT [sent=N]
 *   netserve done seconds=S rx=FRAMES tx=FRAMES counters=N     only when --seconds ends it
 *
 * The event loop makes one FERRY_NET_SYNC system call per round (ferry_net.h): it sends the
 * frames lwIP queued in the transmit slots, and returns the frames received, waiting until
 * lwIP's next timer or heartbeat when there are none. Received frames are copied into pbufs
 * (at CPL 3, natively fast) before lwIP sees them, so their slots go back to the card at the
 * next round.
 */
#include "workload.h"
#include "ferry_net.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/ioctl.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "lwip/etharp.h"
#include "netif/ethernet.h"

static int net_fd;
static struct ferry_net_info info;
static struct ferry_net_rxctl *rxctl;
static struct ferry_net_txctl *txctl;
static uint32_t tx_pending;        /* frames in transmit slots not yet given to the kernel */
static uint64_t tx_dropped;
static uint64_t counters_total;    /* counters streamed, all connections */
static uint64_t tcp_rate;          /* counters a second per connection, 0 = as fast as possible */

u32_t sys_now(void) { return (u32_t)(now_ns() / 1000000); }

/* One FERRY_NET_SYNC: send what is pending, collect what arrived (waiting up to timeout_ns). */
static int net_sync(uint64_t timeout_ns)
{
    txctl->timeout_ns = timeout_ns;
    txctl->tx_count = tx_pending;
    txctl->rx_max = 0;
    int n = ioctl(net_fd, FERRY_NET_SYNC, 0);
    if (n < 0 && errno != ENOBUFS) die("FERRY_NET_SYNC: %s", strerror(errno));
    tx_pending = 0;
    return n < 0 ? 0 : n;
}

static err_t link_output(struct netif *nif, struct pbuf *p)
{
    (void)nif;
    if (p->tot_len > 1514) return ERR_BUF;
    if (tx_pending >= rxctl->tx_free) {
        /* every free slot is used: hand them over, without touching received frames */
        uint32_t keep = tx_pending;
        txctl->timeout_ns = 0;
        txctl->tx_count = keep;
        txctl->rx_max = 0;
        tx_pending = 0;
        /* FERRY_NET_SYNC also returns received frames; the loop copies each batch into pbufs
         * before lwIP runs, so no unprocessed frame can be in the slots given back here. */
        int n = ioctl(net_fd, FERRY_NET_SYNC, 0);
        extern void queue_received(int n);
        if (n > 0) queue_received(n);
        if (tx_pending >= rxctl->tx_free) {
            tx_dropped++;
            return ERR_MEM;
        }
    }
    uint32_t slot = (rxctl->tx_next + tx_pending) % info.slots;
    uint8_t *dst = (uint8_t *)(uintptr_t)info.tx_va + (uint64_t)slot * info.slot_size + FERRY_NET_HDR;
    pbuf_copy_partial(p, dst, p->tot_len, 0);
    uint16_t len = p->tot_len;
    if (len < 60) { /* pad to the Ethernet minimum (the slot may hold an older frame's bytes) */
        memset(dst + len, 0, 60 - len);
        len = 60;
    }
    txctl->tx_len[tx_pending++] = len;
    return ERR_OK;
}

/* Frames received but not yet given to lwIP (copied out of their slots already). */
static struct pbuf *inq[256];
static int inq_n;

void queue_received(int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t e = rxctl->rx[i], slot = e >> 16, len = e & 0xffff;
        const uint8_t *src = (const uint8_t *)(uintptr_t)info.rx_va + (uint64_t)slot * info.slot_size + FERRY_NET_HDR;
        struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
        if (!p) continue;
        pbuf_take(p, src, (u16_t)len);
        if (inq_n < (int)(sizeof inq / sizeof inq[0])) inq[inq_n++] = p;
        else pbuf_free(p);
    }
}

static err_t netif_setup(struct netif *nif)
{
    nif->name[0] = 'v';
    nif->name[1] = 'n';
    nif->output = etharp_output;
    nif->linkoutput = link_output;
    nif->mtu = info.mtu;
    nif->hwaddr_len = 6;
    memcpy(nif->hwaddr, info.mac, 6);
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    return ERR_OK;
}

/* ---- UDP echo ---- */
static void udp_echo(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
    (void)arg;
    udp_sendto(pcb, p, addr, port);
    pbuf_free(p);
}

/* ---- TCP sequence stream ---- */
struct stream {
    struct tcp_pcb *pcb;
    uint64_t next;        /* the next counter to queue */
    uint64_t start_ns;
    struct stream *link;
};
static struct stream *streams;

static void stream_remove(struct stream *s)
{
    for (struct stream **pp = &streams; *pp; pp = &(*pp)->link)
        if (*pp == s) {
            *pp = s->link;
            break;
        }
    free(s);
}

static void log_conn(const char *what, struct tcp_pcb *pcb, const char *extra)
{
    put_line("netserve conn %s port=%u peer=%s:%u%s", what, pcb->local_port, ip4addr_ntoa(&pcb->remote_ip),
             pcb->remote_port, extra);
}

static void stream_fill(struct stream *s)
{
    uint64_t limit = UINT64_MAX;
    if (tcp_rate) limit = (now_ns() - s->start_ns) * tcp_rate / NSEC_PER_SEC + 1;
    int wrote = 0;
    while (s->next < limit) {
        u16_t room = tcp_sndbuf(s->pcb);
        uint64_t n = room / 8;
        if (n > 180) n = 180;             /* one segment's worth at a time */
        if (n > limit - s->next) n = limit - s->next;
        if (n == 0 || tcp_sndqueuelen(s->pcb) >= TCP_SND_QUEUELEN - 2) break;
        uint64_t buf[180];
        for (uint64_t i = 0; i < n; i++) buf[i] = __builtin_bswap64(s->next + i);
        if (tcp_write(s->pcb, buf, (u16_t)(n * 8), TCP_WRITE_FLAG_COPY) != ERR_OK) break;
        s->next += n;
        counters_total += n;
        wrote = 1;
    }
    if (wrote) tcp_output(s->pcb);
}

static err_t stream_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)pcb, (void)len;
    stream_fill(arg);
    return ERR_OK;
}

static err_t stream_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct stream *s = arg;
    (void)err;
    if (!p) { /* the client closed */
        char extra[64];
        snprintf(extra, sizeof extra, " sent=%" PRIu64, s->next);
        log_conn("close", pcb, extra);
        tcp_arg(pcb, NULL);
        tcp_sent(pcb, NULL);
        tcp_recv(pcb, NULL);
        tcp_err(pcb, NULL);
        stream_remove(s);
        if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
        return ERR_OK;
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static void stream_err(void *arg, err_t err)
{
    struct stream *s = arg;
    put_line("netserve conn error err=%d sent=%" PRIu64, err, s ? s->next : 0);
    if (s) stream_remove(s);
}

static err_t stream_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb) return ERR_VAL;
    struct stream *s = calloc(1, sizeof *s);
    if (!s) return ERR_MEM;
    s->pcb = pcb;
    s->start_ns = now_ns();
    s->link = streams;
    streams = s;
    tcp_arg(pcb, s);
    tcp_sent(pcb, stream_sent);
    tcp_recv(pcb, stream_recv);
    tcp_err(pcb, stream_err);
    tcp_nagle_disable(pcb);
    log_conn("open", pcb, "");
    stream_fill(s);
    return ERR_OK;
}

/* ---- TCP echo ---- */
static err_t echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg, (void)err;
    if (!p) {
        log_conn("close", pcb, "");
        tcp_recv(pcb, NULL);
        if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
        return ERR_OK;
    }
    if (tcp_sndbuf(pcb) < p->tot_len || tcp_sndqueuelen(pcb) + pbuf_clen(p) + 2 >= TCP_SND_QUEUELEN)
        return ERR_MEM; /* lwIP keeps it and offers it again later */
    for (struct pbuf *q = p; q; q = q->next)
        if (tcp_write(pcb, q->payload, q->len, TCP_WRITE_FLAG_COPY) != ERR_OK) break;
    tcp_output(pcb);
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static err_t echo_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || !pcb) return ERR_VAL;
    tcp_recv(pcb, echo_recv);
    tcp_nagle_disable(pcb);
    log_conn("open", pcb, "");
    return ERR_OK;
}

static void parse_ip(const char *opt, const char *s, ip4_addr_t *a)
{
    if (!ip4addr_aton(s, a)) usage_error("%s wants an IPv4 address, not '%s'", opt, s);
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *device = "/dev/net0", *ip_arg = NULL, *gw_arg = NULL;
    uint64_t tcp_port = 7000, udp_port = 7001, echo_port = 7002, hb_ms = 1000, seconds = 0;
    static const struct option options[] = {
        { "ip", required_argument, NULL, 'i' },       { "gw", required_argument, NULL, 'g' },
        { "tcp-port", required_argument, NULL, 't' }, { "udp-port", required_argument, NULL, 'u' },
        { "echo-port", required_argument, NULL, 'e' }, { "tcp-rate", required_argument, NULL, 'r' },
        { "hb-ms", required_argument, NULL, 'b' },    { "seconds", required_argument, NULL, 's' },
        { "device", required_argument, NULL, 'd' },   { NULL, 0, NULL, 0 },
    };
    for (int c; (c = getopt_long(argc, argv, "i:g:t:u:e:r:b:s:d:", options, NULL)) != -1;) {
        switch (c) {
        case 'i': ip_arg = optarg; break;
        case 'g': gw_arg = optarg; break;
        case 't': tcp_port = parse_u64("--tcp-port", optarg, 65535); break;
        case 'u': udp_port = parse_u64("--udp-port", optarg, 65535); break;
        case 'e': echo_port = parse_u64("--echo-port", optarg, 65535); break;
        case 'r': tcp_rate = parse_u64("--tcp-rate", optarg, 100000000); break;
        case 'b': hb_ms = parse_u64("--hb-ms", optarg, 60000); break;
        case 's': seconds = parse_u64("--seconds", optarg, 1000000); break;
        case 'd': device = optarg; break;
        default: usage_error("unknown option");
        }
    }
    if (!ip_arg) usage_error("--ip ADDR/PREFIX is required");
    if (hb_ms == 0) usage_error("--hb-ms must be at least 1");
    char ipbuf[32];
    snprintf(ipbuf, sizeof ipbuf, "%s", ip_arg);
    char *slash = strchr(ipbuf, '/');
    uint64_t prefix = 24;
    if (slash) *slash = 0, prefix = parse_u64("--ip prefix", slash + 1, 32);
    ip4_addr_t ip, mask, gw;
    parse_ip("--ip", ipbuf, &ip);
    ip4_addr_set_u32(&mask, prefix ? lwip_htonl(0xffffffffu << (32 - prefix)) : 0);
    ip4_addr_set_zero(&gw);
    if (gw_arg) parse_ip("--gw", gw_arg, &gw);

    net_fd = open(device, O_RDWR);
    if (net_fd < 0) die("cannot open %s: %s", device, strerror(errno));
    if (ioctl(net_fd, FERRY_NET_INFO, &info) < 0) die("FERRY_NET_INFO on %s: %s", device, strerror(errno));
    rxctl = (struct ferry_net_rxctl *)(uintptr_t)(info.rx_va + FERRY_NET_CTL_OFF);
    txctl = (struct ferry_net_txctl *)(uintptr_t)(info.tx_va + FERRY_NET_CTL_OFF);
    srandom((unsigned)now_ns());

    lwip_init();
    static struct netif nif;
    if (!netif_add(&nif, &ip, &mask, &gw, NULL, netif_setup, ethernet_input)) die("netif_add failed");
    netif_set_default(&nif);
    netif_set_up(&nif);
    netif_set_link_up(&nif);

    struct udp_pcb *u = udp_new();
    if (!u || udp_bind(u, IP_ADDR_ANY, (u16_t)udp_port) != ERR_OK) die("cannot bind UDP port %" PRIu64, udp_port);
    udp_recv(u, udp_echo, NULL);
    struct tcp_pcb *t = tcp_new();
    if (!t || tcp_bind(t, IP_ADDR_ANY, (u16_t)tcp_port) != ERR_OK) die("cannot bind TCP port %" PRIu64, tcp_port);
    t = tcp_listen(t);
    tcp_accept(t, stream_accept);
    struct tcp_pcb *e = tcp_new();
    if (!e || tcp_bind(e, IP_ADDR_ANY, (u16_t)echo_port) != ERR_OK) die("cannot bind TCP port %" PRIu64, echo_port);
    e = tcp_listen(e);
    tcp_accept(e, echo_accept);

    put_line("netserve ready ip=%s/%" PRIu64 " mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u tcp=%" PRIu64 " udp=%" PRIu64
             " echo=%" PRIu64,
             ip4addr_ntoa(&ip), prefix, info.mac[0], info.mac[1], info.mac[2], info.mac[3], info.mac[4], info.mac[5],
             info.mtu, tcp_port, udp_port, echo_port);
    /* Tell the segment where we are (switches and the host's ARP cache learn it at once). */
    etharp_gratuitous(&nif);

    uint64_t start = now_ns(), next_hb = start + hb_ms * 1000000, end = seconds ? start + seconds * NSEC_PER_SEC : 0;
    uint64_t hb_seq = 1;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= next_hb) {
            put_line("HB %" PRIu64 " %" PRIu64 " %" PRIu64, hb_seq++, now, counters_total);
            next_hb += hb_ms * 1000000;
            if (next_hb <= now) next_hb = now + hb_ms * 1000000; /* after a stall, no burst */
        }
        if (end && now >= end) break;
        /* How long the kernel may wait for a frame: until lwIP's next timer or the heartbeat. */
        uint64_t wait = next_hb - now;
        u32_t ms = sys_timeouts_sleeptime();
        if (ms != SYS_TIMEOUTS_SLEEPTIME_INFINITE && (uint64_t)ms * 1000000 < wait) wait = (uint64_t)ms * 1000000;
        if (end && end - now < wait) wait = end - now;
        if (tcp_rate && streams && wait > 1000000) wait = 1000000; /* paced streams: every ms */
        if (inq_n || wait == 0) wait = 0;
        else if (wait < 1000) wait = 1000;
        int n = net_sync(wait);
        queue_received(n);
        for (int i = 0; i < inq_n; i++)
            if (nif.input(inq[i], &nif) != ERR_OK) pbuf_free(inq[i]);
        inq_n = 0;
        sys_check_timeouts();
        if (tcp_rate)
            for (struct stream *s = streams; s; s = s->link) stream_fill(s);
    }
    net_sync(0);
    put_line("netserve done seconds=%.3f rx=%" PRIu64 " tx=%" PRIu64 " counters=%" PRIu64, (now_ns() - start) / 1e9,
             (uint64_t)rxctl->rx_frames, (uint64_t)rxctl->tx_frames, counters_total);
    return 0;
}
