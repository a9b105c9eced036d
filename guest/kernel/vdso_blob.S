/* The vDSO image (vdso/), page-aligned so it can be mapped into every process as is. */
    .section .vdso, "a"
    .p2align 12
    .globl vdso_start, vdso_end
vdso_start:
    .incbin VDSO_PATH
vdso_end:
    .p2align 12
