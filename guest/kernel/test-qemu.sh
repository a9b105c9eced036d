#!/bin/bash
# Boot a ferry-guest.elf + initrd under QEMU and print the console and QEMU's exit code.
# usage: test-qemu.sh [--tcg] [--machine microvm|pc] [--smp N] [--mem SIZE] [--timeout SECS]
#                     [--disk IMG]... [--net TAP]... [--no-acpi] KERNEL INITRD [CMDLINE]
# A clean ACPI power-off ends QEMU with exit code 0; a triple fault (panic) with -no-reboot
# also ends QEMU, which the console's "ferry-guest: panic" line tells apart; the timeout gives 124.
#
# --disk IMG   a virtio-blk disk on the raw image IMG (repeatable: /dev/vda, /dev/vdb, ...),
#              on a virtio-mmio transport of the microvm machine, version 2 (virtio 1.x).
# --net TAP    a virtio-net card on the existing tap interface TAP (repeatable: /dev/net0, ...;
#              after the disks), MAC 52:54:00:12:34:5N for the N-th card; run the script inside
#              the tap's network namespace (ip netns exec NS ...).
# --no-acpi    microvm with acpi=off: QEMU then adds the virtio_mmio.device= parameters to the
#              command line itself (one vCPU only: the guest finds the others in the MADT; and
#              no power-off: the guest resets instead, which ends QEMU just the same).
# With ACPI (the default) QEMU describes the transports only in its DSDT, which the guest
# does not read, so this script writes the parameters: QEMU 7.2's microvm with ACPI has a
# second IOAPIC (GSIs 24-47) and 24 transports at 0xfeb00000 + 512 * i with GSI 24 + i, and gives the
# first device the last transport, the next one the one below, and so on.
set -eu
accel=kvm machine=microvm smp=1 mem=1G timeout=60 acpi=on
disks=() nets=()
while [ $# -gt 0 ]; do
    case $1 in
        --tcg) accel=tcg; shift ;;
        --machine) machine=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --disk) disks+=("$2"); shift 2 ;;
        --net) nets+=("$2"); shift 2 ;;
        --no-acpi) acpi=off; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || { echo "usage: $0 [--tcg] [--machine M] [--smp N] [--mem SIZE] [--timeout S] [--disk IMG]... [--net TAP]... [--no-acpi] KERNEL INITRD [CMDLINE]" >&2; exit 2; }
kernel=$1 initrd=$2 cmdline=${3:-}
device_opts=()
if [ ${#disks[@]} -gt 0 ] || [ ${#nets[@]} -gt 0 ] || [ $acpi = off ]; then
    [ "$machine" = microvm ] || { echo "--disk, --net and --no-acpi need --machine microvm" >&2; exit 2; }
    machine="microvm,acpi=$acpi"
    device_opts+=(-global virtio-mmio.force-legacy=false)
    ndev=0
    add_transport() {
        if [ $acpi = on ]; then
            transport=$((23 - ndev))
            cmdline="$cmdline virtio_mmio.device=512@0x$(printf %x $((0xfeb00000 + 512 * transport))):$((24 + transport))"
        fi
        ndev=$((ndev + 1))
    }
    for i in "${!disks[@]}"; do
        [ -f "${disks[$i]}" ] || { echo "--disk ${disks[$i]}: no such file" >&2; exit 2; }
        device_opts+=(-drive "file=${disks[$i]},format=raw,if=none,id=disk$i" -device "virtio-blk-device,drive=disk$i")
        add_transport
    done
    for i in "${!nets[@]}"; do
        device_opts+=(-netdev "tap,id=net$i,ifname=${nets[$i]},script=no,downscript=no"
                      -device "virtio-net-device,netdev=net$i,mac=52:54:00:12:34:5$i")
        add_transport
    done
fi
if [ $accel = kvm ]; then
    # kvm_pvm: no arch-capabilities MSR writes, no CX16 (cmpxchg16b is not emulated at CPL 0)
    accel_opts="-enable-kvm -cpu host,-arch-capabilities,-cx16"
else
    accel_opts="-accel tcg -cpu max"
fi
set +e
timeout "$timeout" qemu-system-x86_64 $accel_opts -M "$machine" -m "$mem" -smp "$smp" \
    -nographic -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$cmdline" "${device_opts[@]+"${device_opts[@]}"}"
rc=$?
set -e
echo "qemu exit code: $rc"
exit $rc
