/* Common types, CPU helpers and declarations shared by every kernel file.
 * Kernel code runs at CPL 0, which kvm_pvm emulates at ~0.5 us per instruction:
 * keep paths short and never touch bulk memory here (see docs/test-guest.md). */
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed char s8;
typedef int s32;
typedef long s64;
typedef unsigned long size_t;
typedef long ssize_t;
typedef u64 uintptr_t;
typedef u32 __attribute__((aligned(1), may_alias)) u32u; /* unaligned loads */
typedef u64 __attribute__((aligned(1), may_alias)) u64u;
#define NULL ((void *)0)
#define bool _Bool
#define true 1
#define false 0

#define KERNEL_VMA 0xffffffff80000000UL   /* the image: -2 GiB maps physical 0..1 GiB */
#define DIRECT_MAP 0xffff800000000000UL   /* all RAM and the low 4 GiB, PML4 slot 256 */
#define PAGE_SIZE 4096UL
#define HUGE_SIZE (2UL << 20)
#define MAX_CPUS 64
#define KSTACK_SIZE 16384UL

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void *phys_to_virt(u64 pa) { return (void *)(pa + DIRECT_MAP); }
static inline u64 virt_to_phys(const void *va)
{
    u64 v = (u64)va;
    return v >= KERNEL_VMA ? v - KERNEL_VMA : v - DIRECT_MAP;
}

/* ---- port and MSR access ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u64 rdmsr(u32 msr)
{
    u32 lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline u64 rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}
static inline u64 read_cr2(void) { u64 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(u64 v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
static inline void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

#define MSR_EFER 0xC0000080
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_SFMASK 0xC0000084
#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102

/* ---- locks: one big kernel lock guards all kernel state; the console has its own ---- */
typedef struct { volatile u32 v; } spinlock_t;
static inline void spin_lock(spinlock_t *l)
{
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        while (l->v) cpu_relax();
}
static inline void spin_unlock(spinlock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }
extern spinlock_t big_lock;

/* ---- trap frame: pushed by entry.S, the hardware part last ---- */
struct frame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error;
    u64 rip, cs, rflags, rsp, ss;
};
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS 0x1b
#define USER_CS 0x23
#define TSS_SEL 0x28

struct tss {
    u32 reserved0;
    u64 rsp0, rsp1, rsp2, reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3, iomap_base;
} __attribute__((packed));

struct thread;
struct addr_space;

/* Per-vCPU state. The first two fields are read by the native SYSCALL stub through %gs
 * (entry.S), so their offsets are fixed. The kernel finds it from the stack: the first word
 * of every vCPU's 16 KiB kernel stack points here. */
struct cpu {
    u64 scratch_rsp;          /* 0: user RSP while the native stub switches stacks */
    u64 kstack_top;           /* 8 */
    u32 index, apic_id;
    struct thread *cur;       /* thread whose context is in this vCPU's top frame, or NULL */
    struct thread *fpu_owner; /* thread whose SIMD state the registers hold */
    struct addr_space *cur_as;
    volatile int online;
    volatile int idle;          /* halted in schedule(), waiting for an IPI or its timer */
    u64 timer_deadline;       /* ns, 0 = not armed */
    volatile int tlb_stale;   /* a process's mappings shrank while its CR3 stayed loaded here */
    u64 slice_end;            /* ns: when the running thread must give way to queued ones, 0 = never */
    u64 gdt[7];
    struct tss tss;
};
extern struct cpu *cpus[MAX_CPUS];
extern int ncpus;
static inline struct cpu *this_cpu(void)
{
    u64 sp;
    __asm__("mov %%rsp, %0" : "=r"(sp));
    return *(struct cpu **)(sp & ~(KSTACK_SIZE - 1));
}

/* Length of the initial part of s holding no NUL, no a and no b, found 8 bytes a step (one
 * emulated instruction per byte is what string loops cost at CPL 0 on kvm_pvm). Reads whole
 * aligned words, so it never touches a page the string does not. */
static inline size_t str_span(const char *s, char a, char b)
{
    const u64 ones = 0x0101010101010101UL, high = 0x8080808080808080UL;
    const u64 ma = (u8)a * ones, mb = (u8)b * ones;
    const u64u *w = (const u64u *)((u64)s & ~7UL);
    u64 x = *w | ((1UL << (((u64)s & 7) * 8)) - 1); /* bytes before s: 0xff, which matches nothing */
    for (;;) {
        u64 xa = x ^ ma, xb = x ^ mb;
        u64 m = (((x - ones) & ~x) | ((xa - ones) & ~xa) | ((xb - ones) & ~xb)) & high;
        if (m) { /* the lowest flagged byte is a true match */
            u64 bit;
            __asm__("bsf %1, %0" : "=r"(bit) : "r"(m));
            return (size_t)((const char *)w + bit / 8 - s);
        }
        x = *++w;
    }
}

/* ---- lib.c ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *p, int c, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy_z(char *d, const char *s, size_t n); /* always NUL-terminates */

/* ---- console.c ---- */
void console_write(const char *s, size_t n);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ksnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
__attribute__((noreturn)) void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void triple_fault(void);

/* ---- mem.c ---- */
struct mem_region { u64 base, size; };
extern struct mem_region ram[32];
extern int nram;
extern u64 usable_bytes;
void mem_init(const struct mem_region *usable, int n, u64 floor, u64 reserve_lo, u64 reserve_hi);
u64 alloc_page(void);   /* physical address of a zeroed 4 KiB page, 0 if none */
u64 alloc_huge(void);   /* physical address of a zeroed 2 MiB page, 0 if none */
void *kzalloc(size_t n);
void kfree(void *p, size_t n);

/* ---- paging.c ---- */
#define PTE_P 0x1UL
#define PTE_W 0x2UL
#define PTE_U 0x4UL
#define PTE_PWT 0x8UL
#define PTE_PCD 0x10UL
#define PTE_PS 0x80UL
#define PTE_ADDR 0x000ffffffffff000UL
extern u64 *kernel_pml4;
void paging_init(u64 max_phys);
u64 *pte_walk(u64 pml4_phys, u64 va, int create, int *level_out);
int map_page(u64 pml4_phys, u64 va, u64 pa, u64 flags);
int map_huge(u64 pml4_phys, u64 va, u64 pa, u64 flags);
u64 new_user_pml4(void);

/* ---- trap.c ---- */
void cpu_tables_init(struct cpu *c);
void trap(struct frame *f);
void syscall_trap(struct frame *f); /* entry.S syscall_common */
void report_fault(struct frame *f, const char *who);

/* ---- cmdline ---- */
extern char cmdline[1024];

/* ---- errno values ---- */
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define EBADF 9
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define EMFILE 24
#define ENOTTY 25
#define ESPIPE 29
#define ERANGE 34
#define ENOSYS 38
#define ETIMEDOUT 110
#define ENOBUFS 105
#define ENODEV 19
