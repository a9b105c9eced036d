/* Serial console on the 16550 at 0x3f8. Each OUT is a VM exit, so a whole line leaves with
 * one REP OUTSB (KVM turns string PIO into a single exit) after one look at the LSR. */
#include <stdarg.h>
#include "kernel.h"

#define COM1 0x3f8
static spinlock_t console_lock;

static void serial_out(const char *s, size_t n)
{
    /* THR-empty is a courtesy for real UARTs; Ferry's and QEMU's accept bytes at any time. */
    for (int i = 0; i < 1000 && !(inb(COM1 + 5) & 0x20); i++) cpu_relax();
    __asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"(COM1) : "memory");
}

void console_write(const char *s, size_t n)
{
    spin_lock(&console_lock);
    serial_out(s, n);
    spin_unlock(&console_lock);
}

struct sink { char *buf; size_t len, cap; };

static void put(struct sink *k, char c)
{
    if (k->len + 1 < k->cap) k->buf[k->len] = c;
    k->len++;
}

/* n bytes at once: the literal parts of the format and %s strings are copied as runs. */
static void put_str(struct sink *k, const char *s, size_t n)
{
    size_t room = k->len + 1 < k->cap ? k->cap - 1 - k->len : 0;
    memcpy(k->buf + k->len, s, MIN(n, room));
    k->len += n;
}

static void put_num(struct sink *k, u64 v, int base, int neg, int width, char pad)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg) tmp[--i] = '-';
    int n = (int)sizeof tmp - i;
    while (n < width--) put(k, pad);
    put_str(k, tmp + i, n);
}

static void vformat(struct sink *k, const char *fmt, va_list ap)
{
    for (;; fmt++) {
        size_t lit = str_span(fmt, '%', 0);
        put_str(k, fmt, lit);
        fmt += lit;
        if (!*fmt || !*++fmt) break;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') { pad = '0'; fmt++; }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') { lng = 1; fmt++; }
        switch (*fmt) {
        case 'd': {
            s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
            put_num(k, v < 0 ? -(u64)v : (u64)v, 10, v < 0, width, pad);
            break;
        }
        case 'u': put_num(k, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, 0, width, pad); break;
        case 'x': put_num(k, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, 0, width, pad); break;
        case 'p': put(k, '0'); put(k, 'x'); put_num(k, (u64)va_arg(ap, void *), 16, 0, 0, ' '); break;
        case 'c': put(k, (char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            put_str(k, s, str_span(s, 0, 0));
            break;
        }
        case '%': put(k, '%'); break;
        default: put(k, '%'); put(k, *fmt); break;
        }
    }
}

int ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
    struct sink k = { buf, 0, n };
    va_list ap;
    va_start(ap, fmt);
    vformat(&k, fmt, ap);
    va_end(ap);
    if (n) buf[k.len < n ? k.len : n - 1] = 0;
    return (int)k.len;
}

void kprintf(const char *fmt, ...)
{
    char buf[512];
    struct sink k = { buf, 0, sizeof buf };
    va_list ap;
    va_start(ap, fmt);
    vformat(&k, fmt, ap);
    va_end(ap);
    console_write(buf, MIN(k.len, sizeof buf - 1));
}

/* Load an empty IDT and raise an exception: #UD -> #DF -> shutdown. The VMM sees a triple
 * fault (a dead guest), never an ACPI power-off. */
void triple_fault(void)
{
    static const struct { u16 limit; u64 base; } __attribute__((packed)) empty = { 0, 0 };
    for (;;) __asm__ volatile("cli; lidt %0; ud2" ::"m"(empty));
}

void panic(const char *fmt, ...)
{
    char buf[400];
    struct sink k = { buf, 0, sizeof buf - 1 };
    static const char head[] = "ferry-guest: panic ";
    put_str(&k, head, sizeof head - 1);
    va_list ap;
    va_start(ap, fmt);
    vformat(&k, fmt, ap);
    va_end(ap);
    size_t n = MIN(k.len, sizeof buf - 2);
    buf[n++] = '\n';
    serial_out(buf, n); /* no lock: the panicking vCPU may hold it */
    triple_fault();
}
