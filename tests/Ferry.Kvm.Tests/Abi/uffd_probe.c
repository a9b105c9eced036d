/* Prints the sizes, field offsets, constants and ioctl numbers of <linux/userfaultfd.h> that
 * Ferry.Kvm mirrors, one per line, in probe.c's format ("size", "offset", "const", "ioctl"). */
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <stdio.h>

#define SIZE(s) printf("size %s %zu\n", #s, sizeof(struct s))
#define OFF(s, f) printf("offset %s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define CONST(n) printf("const %s %llu\n", #n, (unsigned long long)(n))
#define IOCTL(n) printf("ioctl %s %lu\n", #n, (unsigned long)(n))

int main(void)
{
    SIZE(uffdio_api); OFF(uffdio_api, api); OFF(uffdio_api, features); OFF(uffdio_api, ioctls);
    SIZE(uffdio_range); OFF(uffdio_range, start); OFF(uffdio_range, len);
    SIZE(uffdio_register); OFF(uffdio_register, range); OFF(uffdio_register, mode); OFF(uffdio_register, ioctls);
    SIZE(uffdio_copy); OFF(uffdio_copy, dst); OFF(uffdio_copy, src); OFF(uffdio_copy, len); OFF(uffdio_copy, mode); OFF(uffdio_copy, copy);
    SIZE(uffdio_zeropage); OFF(uffdio_zeropage, range); OFF(uffdio_zeropage, mode); OFF(uffdio_zeropage, zeropage);
    SIZE(uffd_msg); OFF(uffd_msg, event); OFF(uffd_msg, arg.pagefault.flags); OFF(uffd_msg, arg.pagefault.address);
    OFF(uffd_msg, arg.pagefault.feat.ptid);
    CONST(UFFD_API); CONST(UFFD_FEATURE_THREAD_ID); CONST(UFFD_EVENT_PAGEFAULT); CONST(UFFDIO_REGISTER_MODE_MISSING);
    CONST(_UFFDIO_COPY); CONST(_UFFDIO_ZEROPAGE);
    IOCTL(UFFDIO_API); IOCTL(UFFDIO_REGISTER); IOCTL(UFFDIO_UNREGISTER); IOCTL(UFFDIO_WAKE); IOCTL(UFFDIO_COPY); IOCTL(UFFDIO_ZEROPAGE);
    IOCTL(USERFAULTFD_IOC_NEW);
    return 0;
}
