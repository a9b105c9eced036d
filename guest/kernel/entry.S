/* Interrupt and exception entry: one 16-byte stub per vector pushes (error code, vector),
 * trap_common saves the general registers as a struct frame and calls trap(frame).
 * Every return to any context, user or kernel, goes through trap_return and IRETQ
 * (SYSRET is not emulated on kvm_pvm). */
#define USER_DS 0x1b
#define USER_CS 0x23
#define VEC_SYSCALL 256
#define KERNEL_CS 0x08
/* Where kernel.ld places .text.isr (it checks): with the stubs' address known here, the IDT
 * below is built by the assembler instead of by 256 emulated loop iterations at boot. */
#define ISR_STUBS_VA 0xffffffff80110000

    .section .text.isr, "ax"
    .p2align 12
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if vec == 13
    pushq $13                   /* #GP: maybe kvm_pvm's system call (gp_entry) */
    jmp gp_entry
    .else
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp trap_common
    .endif
    .set vec, vec + 1
    .endr

    .text
    .p2align 4
    .globl trap_common
trap_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    call trap
    .globl trap_return
trap_return:
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq

/* System calls skip trap()'s dispatch: each emulated instruction costs ~0.5-1 us on kvm_pvm.
 * gp_entry: a #GP whose RIP is the HLT at LSTAR in the user page is a system call (kvm_pvm's
 * route); syscall_common: the native SYSCALL stub, vector VEC_SYSCALL. The frame is the same
 * struct frame as trap_common's, so every handler may block or switch threads. */
#define TRAMP_VA 0x7ffff0010000     /* proc.h */
#define FRAME_VECTOR 0x78
#define FRAME_RIP 0x88
gp_entry:
syscall_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    cmpq $13, FRAME_VECTOR(%rsp)
    jne 1f
    movabs $(TRAMP_VA + (syscall_gp_hlt - user_page_start)), %rax
    cmp %rax, FRAME_RIP(%rsp)
    jne 2f
1:  call syscall_trap
    jmp trap_return
2:  call trap
    jmp trap_return

/* void cpu_loop_start(struct frame *top): run schedule_start(top) with the stack just below
 * the vCPU's top frame, then enter whatever context it put in that frame. Never returns. */
    .globl cpu_loop_start
cpu_loop_start:
    mov %rdi, %rsp
    call schedule_start
    jmp trap_return

/* int probe_syscall_route(u64 user_rip, u64 user_rsp): drop to CPL 3 at user_rip, which
 * executes SYSCALL into the probe stub; trap() calls probe_resume(result) from the trap, which
 * returns here on the boot stack. */
    .globl probe_syscall_route
probe_syscall_route:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, probe_saved_rsp(%rip)
    pushq $USER_DS
    pushq %rsi
    pushq $2                    /* RFLAGS: IF off, no interrupt may land mid-probe */
    pushq $USER_CS
    pushq %rdi
    iretq
    .globl probe_resume
probe_resume:
    mov probe_saved_rsp(%rip), %rsp
    mov %edi, %eax
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

    .data
probe_saved_rsp:
    .quad 0

/* The IDT: 256 interrupt gates (DPL 0, IST 0) to the 16-byte stubs at ISR_STUBS_VA. */
    .p2align 12
    .globl idt
idt:
    .set vec, 0
    .rept 256
    .set h, ISR_STUBS_VA + 16 * vec
    .quad (h & 0xffff) | (KERNEL_CS << 16) | (0x8E << 40) | (((h >> 16) & 0xffff) << 48)
    .quad h >> 32
    .set vec, vec + 1
    .endr

/* ---------------------------------------------------------------------------------------
 * The user page: mapped at TRAMP_VA (user, read+execute) in every address space. Only
 * position-independent code and absolute pointers live here. */
    .section .usertext, "ax"
    .p2align 12
    .globl user_page_start
user_page_start:

/* LSTAR on kvm_pvm: SYSCALL arrives here still at CPL 3; HLT raises #GP, which trap()
 * recognises by its RIP as a system call (args in rax, rdi, rsi, rdx, r10, r8, r9). */
    .globl syscall_gp_hlt
syscall_gp_hlt:
    hlt

/* LSTAR where SYSCALL behaves as on hardware (QEMU TCG, VT-x): CPL 0, user RSP, user GS,
 * IF cleared by SFMASK. Build an IRETQ frame on the vCPU's kernel stack and join trap_common. */
    .p2align 6
    .globl syscall_native
syscall_native:
    swapgs
    mov %rsp, %gs:0
    mov %gs:8, %rsp
    pushq $USER_DS
    pushq %gs:0
    pushq %r11
    pushq $USER_CS
    pushq %rcx
    pushq $0
    pushq $VEC_SYSCALL
    swapgs
    jmp *1f(%rip)
    .p2align 3
1:  .quad syscall_common

/* Boot probe of the SYSCALL behaviour: LSTAR points at probe_lstar while the kernel makes one
 * SYSCALL from probe_user. CPL 3 here -> HLT (#GP at probe_hlt); CPL 0 -> UD2 (#UD at probe_ud2). */
    .p2align 6
    .globl probe_lstar, probe_hlt, probe_ud2, probe_user
probe_lstar:
    mov %cs, %eax
    test $3, %al
    jz probe_ud2
probe_hlt:
    hlt
probe_ud2:
    ud2
probe_user:
    syscall
    ud2

/* CPL-3 helpers: the kernel points a thread here (IRETQ with the registers set up) to do work
 * that is slow or impossible at CPL 0 (bulk copies, XSAVE/XRSTOR); the final HLT traps back
 * (#GP) and trap() resumes the thread's real context. */
    .p2align 6
    .globl helper_copy, helper_copy_end
helper_copy:                    /* rdi = destination, rsi = source, rcx = bytes */
    rep movsb
helper_copy_end:
    hlt
    .p2align 4
    .globl helper_copylist, helper_copylist_end
helper_copylist:                /* rbx = list of {dst, src, len} triples ending with len 0 */
1:  mov 16(%rbx), %rcx
    test %rcx, %rcx
    jz helper_copylist_end
    mov (%rbx), %rdi
    mov 8(%rbx), %rsi
    rep movsb
    add $24, %rbx
    jmp 1b
helper_copylist_end:
    hlt
    .p2align 4
    .globl helper_xsave, helper_xsave_end
helper_xsave:                   /* rdi = 64-byte aligned area, edx:eax = all ones */
    xsave64 (%rdi)
helper_xsave_end:
    hlt
    .p2align 4
    .globl helper_xrstor, helper_xrstor_end
helper_xrstor:
    xrstor64 (%rdi)
helper_xrstor_end:
    hlt
    .p2align 4
    .globl helper_fxsave, helper_fxsave_end
helper_fxsave:                  /* CPUs without XSAVE */
    fxsave64 (%rdi)
helper_fxsave_end:
    hlt
    .p2align 4
    .globl helper_fxrstor, helper_fxrstor_end
helper_fxrstor:
    fxrstor64 (%rdi)
helper_fxrstor_end:
    hlt
