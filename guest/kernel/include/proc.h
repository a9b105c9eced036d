/* Processes, threads, address spaces and the scheduler's view of them. */
#pragma once
#include "kernel.h"

/* User address-space layout (the same in every process). */
#define VVAR_VA       0x7ffff0000000UL  /* page 0: per-vCPU pvclock, page 1: struct vvar_data */
#define VDSO_VA       0x7ffff0004000UL  /* up to 48 KiB */
#define TRAMP_VA      0x7ffff0010000UL  /* the user page of entry.S (LSTAR, helpers) */
#define XSAVE_VA      0x7ffe00000000UL  /* per-thread SIMD save areas, 16 KiB apart */
#define INITRD_VA     0x7f0000000000UL  /* the initrd, read-only, so CPL-3 helpers copy from it */
#define STACK_TOP     0x7ffd00000000UL
#define STACK_SIZE    (8UL << 20)
#define MMAP_BASE     0x100000000000UL
#define PIE_BASE      0x555555400000UL  /* 2 MiB aligned, so segments share 2 MiB pages */

#define VEC_TIMER 0x20
#define VEC_WAKE 0xF0
#define VEC_FLUSH 0xF1
#define VEC_SPURIOUS 0xFF
#define VEC_SYSCALL 256

#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4

enum vma_kind { VMA_ANON, VMA_PHYS };
struct vma {
    u64 start, end;
    u32 prot, kind;
};
#define MAX_VMAS 170 /* one 4 KiB allocation */

struct cpio_file;
struct blkdev;
struct blk_op;
struct netdev;
struct open_file {
    const struct cpio_file *file; /* NULL (and no blk): the console */
    struct blkdev *blk;           /* a disk, /dev/vdX */
    struct netdev *net;           /* a network card, /dev/netN */
    u64 off;
    int shared;                   /* other descriptors sharing it (dup) */
    int flags;                    /* open flags (access mode, O_NONBLOCK), for F_GETFL */
};
#define MAX_FDS 32

struct proc {
    int pid;
    char name[48];
    u64 pml4;
    struct vma *vmas;             /* sorted by address */
    int nvma;
    u64 brk_start, brk;
    u64 mmap_next;
    struct open_file *fds[MAX_FDS];
    int nthreads;
    int exiting, exit_status;
    int workload;                 /* index in the workload list */
    u64 next_xsave_slot;
    int loading;                  /* the exec copy helper is filling the ELF segments */
    u64 seg_start[8], seg_end[8]; /* ELF segments and their final rights, applied after it */
    u32 seg_prot[8];
    int nseg;
    struct thread *threads;       /* all live threads, linked by pnext */
};

enum thread_state { T_RUNNABLE, T_RUNNING, T_BLOCKED, T_DEAD };
enum helper_kind { H_NONE, H_SYSRET, H_SAVE_THEN_BLOCK, H_RESTORE, H_EXEC };

struct thread {
    struct frame ctx;             /* user context while not on a vCPU */
    struct frame helper_ret;      /* context to resume when a CPL-3 helper finishes */
    struct proc *proc;
    int tid;
    int state;
    int on_cpu;                   /* its context is in some vCPU's frame (running or helper) */
    int helper;
    int yielding;                 /* sched_yield: requeue after the SIMD save */
    struct thread *next;          /* run queue link */
    struct thread *wnext;         /* wait list link */
    struct thread *pnext;         /* the process's thread list */
    u64 fs_base;
    u64 clear_child_tid;
    /* blocking */
    int waiting;                  /* on the wait list */
    u64 futex_uaddr;
    u32 futex_bitset;
    u64 deadline;                 /* ns of the monotonic clock, 0 = none */
    s64 timeout_result;           /* rax when the deadline passes */
    struct blk_op *io_op;         /* the disk operation it waits for (virtio_blk.c) */
    int net_wait;                 /* a network card may hold a pointer to it (virtio_net.c) */
    /* SIMD state */
    u64 xsave_va;
};

extern int syscall_native_route;
extern int live_threads;

/* sched.c */
void schedule(struct frame *f);
void make_runnable(struct thread *t);
void block_current(struct thread *t, struct frame *f);
void wait_add(struct thread *t);
void wake_thread(struct thread *t, s64 result);
void check_timers(void);
void timer_interrupt(void);
void maybe_preempt(struct thread *t, struct frame *f);
void thread_finish(struct thread *t, struct frame *f);
struct thread *thread_new(struct proc *p);
void run_helper(struct thread *t, struct frame *f, int kind, u64 entry, u64 rdi, u64 rsi, u64 rcx, u64 rbx);
void helper_done(struct thread *t, struct frame *f);
extern char user_page_start[];
/* Where a symbol of the user page (entry.S .usertext) is in user space. */
static inline u64 tramp_va(const void *sym) { return TRAMP_VA + ((u64)sym - (u64)user_page_start); }

/* proc.c */
struct proc *proc_create(const char *name);
int proc_start(int workload, const char *path, const char *args);
void proc_kill(struct proc *p, int status);
void workload_exited(struct proc *p);
struct vma *vma_find(struct proc *p, u64 va);
int vma_set(struct proc *p, u64 start, u64 end, u32 prot, u32 kind);
void vma_clear(struct proc *p, u64 start, u64 end);
int handle_user_fault(struct proc *p, u64 va, int write);
void *user_ptr(struct proc *p, u64 va, int write);
u64 user_phys(struct proc *p, u64 va, int write, u64 *run);
int copy_to_user(struct proc *p, u64 dst, const void *src, size_t n);
int copy_from_user(struct proc *p, void *dst, u64 src, size_t n);
int strncpy_from_user(struct proc *p, char *dst, u64 src, size_t n);
int user_range_ready(struct proc *p, u64 va, size_t n, int write);
void unmap_range(struct proc *p, u64 start, u64 end);
void protect_range(struct proc *p, u64 start, u64 end, u32 prot);
void tlb_shootdown(struct proc *p);

/* syscall.c */

/* fpu.c */
void fpu_cpu_init(void);
int fpu_thread_init(struct thread *t);
void fpu_save_and_block(struct thread *t, struct frame *f);
int fpu_load(struct thread *t, struct frame *f);
