/*
 * fault - makes the CPU raise an exception in user mode, to test that the guest
 * kernel reports a faulting program clearly (and, on Linux, that it gets a signal).
 *
 * usage: fault KIND
 *   null       read through a null pointer            (#PF, not present)
 *   write-ro   write to a page mapped read-only       (#PF, protection)
 *   ud         execute ud2                             (#UD)
 *   gp         execute hlt, privileged at CPL 3        (#GP)
 *   div0       divide by zero                          (#DE)
 *
 * Output:
 *   fault: about to <KIND>                   just before the faulting instruction
 *   fault: <KIND> did not fault              if the program survives (exit status 1)
 * A run that behaves ends at the fault: the kernel kills the program.
 */
#include "workload.h"
#include <sys/mman.h>

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    if (argc != 2)
        usage_error("wants one argument: null, write-ro, ud, gp or div0");
    const char *kind = argv[1];
    volatile uint64_t *ro = NULL;
    if (!strcmp(kind, "write-ro")) {
        /* Mapped writable, then made read-only, so mprotect is exercised too. */
        void *p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            die("mmap failed: %s", strerror(errno));
        ro = p;
        *ro = 1;
        if (mprotect(p, PAGE_SIZE, PROT_READ) != 0)
            die("mprotect failed: %s", strerror(errno));
    } else if (strcmp(kind, "null") && strcmp(kind, "ud") && strcmp(kind, "gp") && strcmp(kind, "div0")) {
        usage_error("unknown kind '%s': wants null, write-ro, ud, gp or div0", kind);
    }

    put_line("fault: about to %s", kind);
    if (!strcmp(kind, "null")) {
        /* The pointer itself is volatile so that gcc cannot see the null and
         * replace the load by a trap instruction of its own. */
        volatile uint64_t *volatile null = NULL;
        (void)*null;
    } else if (!strcmp(kind, "write-ro")) {
        *ro = 2;
    } else if (!strcmp(kind, "ud")) {
        __asm__ volatile("ud2");
    } else if (!strcmp(kind, "gp")) {
        __asm__ volatile("hlt");
    } else {
        /* In assembly: a C division by zero is undefined, and gcc may drop it. */
        __asm__ volatile("xor %%ecx, %%ecx\n\tmov $1, %%eax\n\txor %%edx, %%edx\n\tdiv %%ecx"
                         ::: "eax", "ecx", "edx");
    }
    put_line("fault: %s did not fault", kind);
    return 1;
}
