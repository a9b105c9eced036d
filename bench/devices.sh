#!/usr/bin/env bash
# bench/devices.sh [--ferry BIN] [--guest DIR] [--out DIR] [devices_bench.py options...]:
# Ferry's virtio-blk and virtio-net side by side with QEMU's (issue 13) in one run: disk throughput
# and latency, network throughput and request latency, client-observed downtime across pre-copy
# and post-copy, and live migration with the disk copied (QEMU's block migration; Ferry's
# --copy-storage when the binary has it). bench/devices_bench.py does the work (--help lists the
# options: --parts, --rounds, --runs, ...); this script makes what it runs in and removes it.
#
# Network: a namespace of its own (fdb-<pid>) holding a bridge fdb-br0 (10.93.0.1/24) and two
# persistent taps fdb-tapa and fdb-tapb on it; the guest is 10.93.0.2. Every VMM, client and
# migration (over the namespace's loopback) runs inside it; nothing else is touched, and the
# namespace (with its bridge and taps) goes on exit, also on Ctrl-C or an error.
# --ferry/--guest default to building them (scripts/prerequisites.sh), as the other benches do;
# the guest needs blkbench (guest/workloads/blkbench.c).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ferry= guest= out=
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --ferry) ferry=$2; shift 2 ;;
        --guest) guest=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
source "$root/scripts/prerequisites.sh"
ensure_packages "${ferry_packages[@]}" qemu-system-x86 iproute2
[ -n "$ferry" ] || { ensure_dotnet; ferry=$(build_ferry); }
[ -n "$guest" ] || guest=$(build_guest)
[ -n "$out" ] || out=$(mktemp -d /tmp/ferry-devices-XXXX)
mkdir -p "$out"
ns=fdb-$$
run_dir=$(mktemp -d /tmp/ferry-devices-run-XXXX)
# One binary for the whole run, even if the one named is rebuilt meanwhile.
cp "$ferry" "$run_dir/ferry-bin"
ferry_src=$ferry ferry=$run_dir/ferry-bin

cleanup() {
    trap - EXIT INT TERM
    # devices_bench.py ends its own processes (by PID) before it exits; the namespace goes with
    # its bridge and taps once nothing runs inside it.
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add fdb-br0 type bridge
ip -n "$ns" addr add 10.93.0.1/24 dev fdb-br0
ip -n "$ns" link set fdb-br0 up
for tap in fdb-tapa fdb-tapb; do
    ip -n "$ns" tuntap add "$tap" mode tap
    ip -n "$ns" link set "$tap" master fdb-br0 up
done

echo "# $(date -u '+%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), namespace $ns, out $out," \
    "ferry $ferry_src ($(stat -c %y "$ferry_src" | cut -d. -f1), copied)" >&2
FERRY_RUN_DIR="$run_dir" ip netns exec "$ns" python3 "$here/devices_bench.py" --ferry "$ferry" --guest "$guest" \
    --peer "$root/../shared/peers/qemu" --tap-a fdb-tapa --tap-b fdb-tapb --guest-ip 10.93.0.2 --out "$out" \
    "${args[@]+"${args[@]}"}"
echo "# $(date -u '+%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
