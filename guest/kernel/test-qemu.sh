#!/bin/sh
# Boot a ferry-guest.elf + initrd under QEMU and print the console and QEMU's exit code.
# usage: test-qemu.sh [--tcg] [--machine microvm|pc] [--smp N] [--mem SIZE] [--timeout SECS]
#                     KERNEL INITRD [CMDLINE]
# A clean ACPI power-off ends QEMU with exit code 0; a triple fault (panic) with -no-reboot
# also ends QEMU, which the console's "ferry-guest: panic" line tells apart; the timeout gives 124.
set -eu
accel=kvm machine=microvm smp=1 mem=1G timeout=60
while [ $# -gt 0 ]; do
    case $1 in
        --tcg) accel=tcg; shift ;;
        --machine) machine=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || { echo "usage: $0 [--tcg] [--machine M] [--smp N] [--mem SIZE] [--timeout S] KERNEL INITRD [CMDLINE]" >&2; exit 2; }
kernel=$1 initrd=$2 cmdline=${3:-}
if [ $accel = kvm ]; then
    # kvm_pvm: no arch-capabilities MSR writes, no CX16 (cmpxchg16b is not emulated at CPL 0)
    accel_opts="-enable-kvm -cpu host,-arch-capabilities,-cx16"
else
    accel_opts="-accel tcg -cpu max"
fi
set +e
timeout "$timeout" qemu-system-x86_64 $accel_opts -M "$machine" -m "$mem" -smp "$smp" \
    -nographic -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
rc=$?
set -e
echo "qemu exit code: $rc"
exit $rc
