/* lwIP options for the guest workloads (netserve): NO_SYS (one thread, raw API, no OS
 * layer), IPv4 with ARP, ICMP, UDP and TCP, every checksum in software (the virtio-net card
 * offers no offloads to this guest). lwIP itself is Debian's source package `lwip` (2.1.3),
 * fetched by fetch-lwip.sh; only this file and arch/cc.h are ours. */
#ifndef FERRY_LWIPOPTS_H
#define FERRY_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_STATS 0
#define LWIP_SINGLE_NETIF 1
#define LWIP_NETIF_STATUS_CALLBACK 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1

/* Memory: plenty (the guest has RAM to spare; lwIP's heap is a static array). */
#define MEM_ALIGNMENT 8
#define MEM_SIZE (8 * 1024 * 1024)
#define MEMP_NUM_PBUF 256
#define MEMP_NUM_UDP_PCB 8
#define MEMP_NUM_TCP_PCB 32
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_TCP_SEG 1024
#define MEMP_NUM_REASSDATA 8
#define IP_REASS_MAX_PBUFS 64
#define PBUF_POOL_SIZE 1024
#define ARP_TABLE_SIZE 16
#define ARP_QUEUEING 1

/* TCP: a full-size MSS and a window near the 16-bit limit (no window scaling). */
#define TCP_MSS 1460
#define TCP_WND (44 * TCP_MSS)
#define TCP_SND_BUF (44 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT (TCP_SND_BUF / 2)
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_KEEPALIVE 1
#define TCP_LISTEN_BACKLOG 0

#define LWIP_NOASSERT_ON_ERROR 1
#endif
