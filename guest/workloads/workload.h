/*
 * workload.h - small helpers shared by Ferry's guest workloads.
 *
 * The workloads run both natively and inside Ferry's test guest, whose kernel
 * emulates every instruction at CPL 0: a system call costs ~13 us there, while
 * clock_gettime through the vDSO costs nothing extra. So the helpers read the
 * clock freely, and print each line with exactly one write() so that lines from
 * one program never interleave and a line's arrival time means something.
 */
#ifndef FERRY_WORKLOAD_H
#define FERRY_WORKLOAD_H

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096u
#define NSEC_PER_SEC 1000000000ull

/* Set by main() to argv[0]'s base name; prefixes error messages. */
static const char *prog = "workload";

static inline void set_prog(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    if (argv0)
        prog = slash ? slash + 1 : argv0;
}

/* Prints one formatted line with a single write() (retrying only a short write). */
__attribute__((format(printf, 1, 2)))
static inline void put_line(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    for (int done = 0; done < n;) {
        ssize_t w = write(STDOUT_FILENO, buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;   /* the console is gone: nobody to tell */
        done += w;
    }
}

/* Prints "<prog>: <message>" on stderr and exits with status 1. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void die(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "%s: %s\n", prog, msg);
    exit(1);
}

/* A usage error: one line, exit status 2. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void usage_error(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "%s: %s (see the usage comment in %s.c)\n", prog, msg, prog);
    exit(2);
}

static inline uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        die("clock_gettime(%d) failed: %s", (int)clock, strerror(errno));
    return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in ns; through the vDSO, so it needs no system call. */
static inline uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* Sleeps ns nanoseconds, resuming after an interruption. */
static inline void sleep_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };
    while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR)
            die("nanosleep failed: %s", strerror(errno));
    }
}

/* Parses a non-negative decimal number for option opt, or exits with a usage error. */
static inline uint64_t parse_u64(const char *opt, const char *s, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        usage_error("%s wants a whole number from 0 to %" PRIu64 ", not '%s'", opt, max, s);
    return v;
}

/* xorshift64*: a fast pseudo-random generator; the state must not be 0. */
static inline uint64_t rand64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A uniform value in [0, n) from 32 random bits, without a division. */
static inline uint64_t below(uint32_t r, uint64_t n)
{
    return ((uint64_t)r * n) >> 32;
}

#endif
