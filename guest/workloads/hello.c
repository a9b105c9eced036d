/*
 * hello - the smallest workload: proves a static program of either libc starts,
 * sees its arguments, reads the clock and prints through stdio.
 *
 * usage: hello-glibc [ARG]...   or   hello-musl [ARG]...
 *
 * Output (one line, through printf so that the libc's stdio start-up is exercised):
 *   hello from glibc argc=N args=A,B,... monotonic-ns=T realtime-s=S
 * The libc (glibc or musl) is the one the program was linked with; argc counts
 * argv[0], args lists argv[1..] joined by commas (empty when there are none).
 * Exit status 0.
 */
#include "workload.h"

#ifdef __GLIBC__
#define LIBC_NAME "glibc"
#else
#define LIBC_NAME "musl"   /* musl deliberately defines no identifying macro */
#endif

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    struct timespec mono, real;
    if (clock_gettime(CLOCK_MONOTONIC, &mono) != 0)
        die("clock_gettime(CLOCK_MONOTONIC) failed: %s", strerror(errno));
    if (clock_gettime(CLOCK_REALTIME, &real) != 0)
        die("clock_gettime(CLOCK_REALTIME) failed: %s", strerror(errno));

    printf("hello from " LIBC_NAME " argc=%d args=", argc);
    for (int i = 1; i < argc; i++)
        printf("%s%s", i > 1 ? "," : "", argv[i]);
    printf(" monotonic-ns=%llu realtime-s=%lld\n",
           (unsigned long long)mono.tv_sec * NSEC_PER_SEC + (unsigned long long)mono.tv_nsec,
           (long long)real.tv_sec);
    if (fflush(stdout) != 0)
        die("writing to stdout failed: %s", strerror(errno));
    return 0;
}
