/* Prints the sizes, field offsets, constants and ioctl numbers of <linux/if_tun.h> and
 * <linux/if.h> that Ferry.Kvm mirrors for tap devices, in probe.c's format. */
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdio.h>

#define SIZE(s) printf("size %s %zu\n", #s, sizeof(struct s))
#define OFF(s, f) printf("offset %s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define CONST(n) printf("const %s %llu\n", #n, (unsigned long long)(n))
#define IOCTL(n) printf("ioctl %s %lu\n", #n, (unsigned long)(n))

int main(void)
{
    SIZE(ifreq); OFF(ifreq, ifr_name); OFF(ifreq, ifr_flags);
    SIZE(virtio_net_hdr_v1); SIZE(virtio_net_hdr_mrg_rxbuf);
    CONST(IFNAMSIZ); CONST(IFF_TAP); CONST(IFF_NO_PI); CONST(IFF_VNET_HDR);
    CONST(TUN_F_CSUM); CONST(TUN_F_TSO4); CONST(TUN_F_TSO6); CONST(TUN_F_TSO_ECN);
    IOCTL(TUNSETIFF); IOCTL(TUNGETIFF); IOCTL(TUNSETOFFLOAD); IOCTL(TUNSETVNETHDRSZ);
    return 0;
}
