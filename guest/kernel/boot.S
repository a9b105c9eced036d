/* PVH entry: 32-bit protected mode, paging off, EBX = physical address of hvm_start_info.
 * Turn on long mode with static boot page tables (identity 0..1 GiB and -2 GiB -> 0..1 GiB)
 * and call kmain(start_info) on the boot stack. */
#define KERNEL_VMA 0xffffffff80000000

    .section .note.Xen, "a"
    .p2align 2
    .long 4                 /* name size */
    .long 4                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start

    .section .boot.text, "ax"
    .code32
    .globl pvh_start
pvh_start:
    cli
    cld
    mov %ebx, %esi
    lgdt boot_gdt_ptr
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx       /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* PG | PE */
    mov %eax, %cr0
    ljmp $0x08, $boot64

    .code64
boot64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $boot_stack_top, %rsp
    mov %esi, %edi
    movabs $kmain, %rax
    call *%rax
1:  hlt
    jmp 1b

    .section .boot.data, "aw"
    .p2align 3
    .globl boot_gdt
boot_gdt:
    .quad 0
    .quad 0x00209A0000000000    /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF    /* 0x10: data */
    .quad 0x00CF9A000000FFFF    /* 0x18: 32-bit code, used by the AP trampoline */
boot_gdt_end:
    .globl boot_gdt_ptr
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .p2align 12
    .globl boot_pml4
boot_pml4:
    .quad boot_pdpt_low + 3
    .fill 510, 8, 0
    .quad boot_pdpt_high + 3
boot_pdpt_low:
    .quad boot_pd + 3
    .fill 511, 8, 0
boot_pdpt_high:
    .fill 510, 8, 0
    .quad boot_pd + 3
    .quad 0
    .globl boot_pd, boot_pd_mmio
boot_pd:                        /* 0..1 GiB, write-back; also the direct map's first GiB */
    .set i, 0
    .rept 512
    .quad (i << 21) | 0x83
    .set i, i + 1
    .endr

    /* In the kernel's .data, not .boot (the instruction check reads .boot as code, and these
     * are no boot tables): 1..4 GiB, uncached (PCD PWT), the direct map's, ready-made. */
    .data
    .p2align 12
boot_pd_mmio:
    .rept 1536
    .quad (i << 21) | 0x9b
    .set i, i + 1
    .endr

    .section .bss
    .p2align 14
    .globl boot_stack
boot_stack:
    .skip 16384
boot_stack_top:
