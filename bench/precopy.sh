#!/usr/bin/env bash
# bench/precopy.sh [--runs N] [--cases a,b] [--sides ferry,qemu] [--out DIR] ...: live pre-copy
# migration, Ferry side by side with QEMU (the shared peer ../shared/peers/qemu, run through
# bench/qemu_peer.py, which adds the CPU cost of both VMM processes) in one run, against the
# loopback TCP and memory population limits measured in the same run. Options go to
# bench/precopy_bench.py (--help lists them). Prints Markdown tables; raw JSON lines land in --out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/scripts/prerequisites.sh"
ensure_packages "${ferry_packages[@]}" iperf3 qemu-system-x86
ensure_dotnet
ferry=$(build_ferry)
guest=$(build_guest)
run_dir=$(mktemp -d /tmp/ferry-precopy-run-XXXX)
trap 'rm -rf "$run_dir"' EXIT
export FERRY_RUN_DIR="$run_dir"
python3 "$here/precopy_bench.py" --ferry "$ferry" --guest "$guest" --peer "$root/../shared/peers/qemu" "$@"
