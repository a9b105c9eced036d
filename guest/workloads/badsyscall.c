/*
 * badsyscall - makes a system call the guest kernel does not implement, to show that
 * such a call is reported and answered with ENOSYS instead of killing the program.
 *
 * usage: badsyscall [NR]     NR: the system call number (default 999, which no
 *                            Linux has; 335 is a gap in the x86-64 table). All
 *                            six arguments are 0.
 *
 * Output:
 *   badsyscall returned <ret> errno=<errno> nr=<NR>
 * (On Linux and in Ferry's guest: ret -1, errno 38, ENOSYS.) Exit status 0 whatever
 * the call returned: the line is the result.
 */
#include "workload.h"
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    if (argc > 2)
        usage_error("takes at most one argument, the system call number");
    long nr = argc == 2 ? (long)parse_u64("NR", argv[1], 100000) : 999;
    errno = 0;
    long ret = syscall(nr, 0, 0, 0, 0, 0, 0);
    int err = ret == -1 ? errno : 0;
    put_line("badsyscall returned %ld errno=%d nr=%ld", ret, err, nr);
    return 0;
}
