#!/bin/sh
# Fail if the kernel's CPL-0 code contains instructions kvm_pvm's emulator cannot run at CPL 0
# (see /work/shared/kvm-on-pvm.md): they would end the VM with an emulation failure.
# Checked: .text (64-bit) and .boot (32-bit PVH entry). Not checked: .usertext, which runs at
# CPL 3 (XSAVE/XRSTOR helpers; its native SYSCALL stub is plain moves and pushes), the vDSO
# (CPL 3) and the AP trampoline (.rodata, copied below 1 MiB; plain mode-switch code).
set -eu
elf=$1
OBJDUMP=${OBJDUMP:-objdump}
bad='^(rdtscp|rdpid|popcnt|crc32|xgetbv|xsave|xsavec|xsaveopt|xsaves|xsave64|xsavec64|xsaveopt64|xsaves64|xrstor|xrstors|xrstor64|xrstors64|int3|int|cmpxchg16b|clac|stac|fwait|sysret|sysretq|sysretl)$'
scan() {
    # objdump lines: "  addr:<TAB>bytes<TAB>mnemonic operands"
    awk -F'\t' -v bad="$bad" -v sec="$1" '
        NF >= 3 {
            split($3, w, " ");
            m = w[1];
            if (m ~ /^(rep|repz|repnz|lock|data16|addr32|notrack|bnd)$/) m = w[2];
            if (m ~ bad || $3 ~ /%[xyz]mm[0-9]/) { printf "%s: %s %s\n", sec, $1, $3; found = 1 }
        }
        END { exit found }'
}
status=0
$OBJDUMP -d -j .text "$elf" | scan .text || status=1
$OBJDUMP -d -m i386 -j .boot "$elf" | scan .boot || status=1
if [ $status -ne 0 ]; then
    echo "check-insns: $elf has instructions kvm_pvm cannot emulate at CPL 0 (listed above)" >&2
    exit 1
fi
echo "check-insns: $elf: no forbidden CPL-0 instructions"
