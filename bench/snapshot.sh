#!/usr/bin/env bash
# bench/snapshot.sh [REPEAT]: snapshot, restore and cold-migration times against their limits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/scripts/prerequisites.sh"
ensure_packages "${ferry_packages[@]}" iperf3
ensure_dotnet
ferry=$(build_ferry)
guest=$(build_guest)
scratch=$(mktemp -d /var/tmp/ferry-snapbench-XXXX)
export FERRY_RUN_DIR="$scratch/run"
python3 "$here/snapshot_bench.py" --ferry "$ferry" --guest "$guest" --dir "$scratch" --repeat "${1:-3}"
rm -rf "$scratch"
