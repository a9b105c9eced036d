/* The few C library routines the compiler and the kernel need. Only small buffers pass
 * through them at CPL 0; bulk copies are done at CPL 3 (helpers in entry.S). */
#include "kernel.h"

/* The emulator runs a REP string instruction one element per step, so move 8 bytes a step. */
void *memset(void *d, int c, size_t n)
{
    void *r = d;
    u64 v = (u8)c * 0x0101010101010101UL;
    size_t q = n / 8, b = n % 8;
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(v) : "memory");
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(b) : "a"(v) : "memory");
    return r;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *r = d;
    size_t q = n / 8, b = n % 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(q) : : "memory");
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(b) : : "memory");
    return r;
}

void *memmove(void *d, const void *s, size_t n)
{
    u8 *dp = d;
    const u8 *sp = s;
    if (dp <= sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--) dp[n] = sp[n];
    return d;
}

/* Word at a time (aligned loads never leave the buffer's pages): a DSDT is searched this way. */
void *memchr(const void *p, int c, size_t n)
{
    const u8 *s = p, *end = s + n;
    const u64 ones = 0x0101010101010101UL, high = 0x8080808080808080UL, mc = (u8)c * ones;
    if (!n) return NULL;
    const u64 *w = (const u64 *)((u64)s & ~7UL);
    u64 x = *w ^ mc;
    x |= (1UL << (((u64)s & 7) * 8)) - 1; /* bytes before s: no match */
    for (;;) {
        u64 m = (x - ones) & ~x & high;
        if (m) {
            u64 bit;
            __asm__("bsf %1, %0" : "=r"(bit) : "r"(m));
            const u8 *hit = (const u8 *)w + bit / 8;
            return hit < end ? (void *)hit : NULL;
        }
        if ((const u8 *)++w >= end) return NULL;
        x = *w ^ mc;
    }
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}

size_t strlen(const char *s) { return str_span(s, 0, 0); }

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b) return (u8)*a - (u8)*b;
        if (!*a) return 0;
    }
    return 0;
}

char *strncpy_z(char *d, const char *s, size_t n)
{
    if (!n) return d;
    size_t len = MIN(str_span(s, 0, 0), n - 1);
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}
