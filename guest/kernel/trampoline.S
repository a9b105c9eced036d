/* AP start-up code, copied to TRAMP_PHYS (below 1 MiB) and entered by SIPI in real mode.
 * It lives in .rodata so the instruction check (which reads code sections as 64-bit code)
 * never misreads its 16-bit part. Real mode -> protected mode -> long mode with the boot page
 * tables; the stack comes from ap_stacks[] indexed by the initial APIC ID (CPUID.1 EBX[31:24]). */
#define TRAMP_PHYS 0x8000
#define T(x) (TRAMP_PHYS + (x) - ap_tramp_start)

    .section .rodata
    .p2align 4
    .globl ap_tramp_start, ap_tramp_end, ap_tramp_stacks
ap_tramp_start:
    .code16
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl T(tramp_gdt_ptr)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $T(ap32)
    .code32
ap32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    ljmp $0x08, $T(ap64)
    .code64
ap64:
    mov $1, %eax
    cpuid
    shr $24, %ebx
    mov T(ap_tramp_stacks)(,%rbx,8), %rsp
    movabs $ap_entry, %rax
    call *%rax
1:  hlt
    jmp 1b
    .p2align 3
tramp_gdt_ptr:
    .word 31
    .long boot_gdt
    .p2align 3
ap_tramp_stacks:
    .fill 256, 8, 0
ap_tramp_end:
