#!/usr/bin/env bash
# scripts/demo.sh FERRY GUEST_DIR   (run by `./ferry demo` as root)
# The guided demo on a test bed of this machine: two hosts (network namespaces, each with its own
# ferryd, on a 1 Gbit/s link), a guest on h1 with a disk and a network card serving a client in
# the client namespace, a live migration to h2 with the progress display while the client
# streams, and the downtime the VMM reports beside the one the client saw. Everything it makes
# is removed at the end, also when interrupted.
set -euo pipefail
ferry=$1 guest=$2
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/prerequisites.sh"

export FERRYBED_PREFIX=fdemo FERRYBED_DIR=/tmp/ferry-demo FERRYBED_MGMT=10.85.0 FERRYBED_GUEST=10.86.0
export FERRY_BIN=$ferry FERRY_CONFIG=$FERRYBED_DIR/config.json
FERRYD_BIN=$(build_ferryd) || exit 1
export FERRYD_BIN
address=$FERRYBED_GUEST.10
bed() { "$root/testbed/$1" "${@:2}"; }
step() { printf '\n== %s\n' "$*"; }

cleanup() { bed down >/dev/null 2>&1 || true; }
cleanup # a demo interrupted before it could clean up
trap cleanup EXIT
trap 'exit 130' INT TERM

step "two hosts, h1 and h2, each with its own agent, on a shaped 1 Gbit/s link"
bed up --hosts 2 --link 1gbit >/dev/null
"$ferry" --host h1 host show | head -3

step "a guest on h1: 2 vCPUs, 512 MiB, a disk and a network card (tap vdemo on h1's guest bridge), serving on $address"
truncate -s 64M "$FERRYBED_DIR/demo.img"
"$ferry" --host h1 vm create demo --kernel "$guest/ferry-guest.elf" --initrd "$guest/initrd.cpio" --memory 512M --cpus 2 \
    --disk "$FERRYBED_DIR/demo.img" --net tap=vdemo --cmdline "ferry.workload=netserve ferry.args=\"--ip $address/24 --hb-ms 1000\""
"$ferry" --host h1 vm start demo >/dev/null
for _ in $(seq 1 240); do
    "$ferry" --host h1 vm console demo | grep -q "netserve ready" && break
    sleep 0.25
done
"$ferry" --host h1 vm console demo | grep "netserve ready" || { echo "ferry demo: the guest's server did not come up" >&2; exit 1; }

step "a client in the client namespace streams from the guest; meanwhile, a live migration (pre-copy) from h1 to h2"
bed exec client python3 "$root/bench/netprobe.py" stream "$address" --seconds 10 >"$FERRYBED_DIR/client.json" 2>&1 &
client=$!
sleep 3
"$ferry" --host h1 vm migrate demo --to h2 --mode precopy | tee "$FERRYBED_DIR/report.txt"
wait "$client" || true

step "what the VMM reported, and what the client saw"
reported=$(grep -o 'downtime [0-9.]* ms' "$FERRYBED_DIR/report.txt" | head -1 | awk '{print $2}')
python3 - "$FERRYBED_DIR/client.json" "${reported:-?}" <<'EOF'
import json, sys
result = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
if "error" in result:
    sys.exit(f"the client could not connect: {result['error']}")
print(f"  downtime the VMM reported:          {sys.argv[2]} ms")
print(f"  longest gap the client saw:         {result['longest_gap_ms']:.1f} ms "
      "(the stream's longest pause, the migration's downtime plus the network's re-learning)")
print(f"  client stream: {result['counters']:,} counters, {result['lost']} lost, {result['reordered']} reordered, {result['mbit_s']:.0f} Mbit/s")
EOF
"$ferry" --host h2 vm list
"$ferry" --host h2 vm stop demo >/dev/null
step "done: the test bed is removed"
