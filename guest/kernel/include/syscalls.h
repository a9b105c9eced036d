/* System-call handlers: each takes the calling thread and its frame (arguments in rdi, rsi,
 * rdx, r10, r8, r9) and returns the result, or RET_BLOCK (the thread is on the wait list) or
 * RET_NOTOUCH (the handler already set up f: a CPL-3 helper, or another thread). */
#pragma once
#include "proc.h"
#define RET_BLOCK ((s64)0x4000000000000001L)
#define RET_NOTOUCH ((s64)0x4000000000000002L)
#define A0 (f->rdi)
#define A1 (f->rsi)
#define A2 (f->rdx)
#define A3 (f->r10)
#define A4 (f->r8)
#define A5 (f->r9)
#define SYSCALL(name) s64 sys_##name(struct thread *t, struct frame *f)
typedef s64 (*syscall_fn)(struct thread *t, struct frame *f);

int futex_wake(struct proc *p, u64 uaddr, int n, u32 bitset);
u64 initrd_user_va(u64 phys);
int alloc_id(void);
