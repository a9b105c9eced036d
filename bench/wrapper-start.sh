#!/usr/bin/env bash
# bench/wrapper-start.sh [N] [WRAPPER]: mean wall time of `--version` through the ./ferry wrapper
# (or WRAPPER), through the binary it runs, and through an install in a temporary prefix, N calls
# each (default 50), interleaved in 5 rounds so the load of other work falls on all three alike.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50} wrapper=${2:-./ferry}
"$wrapper" --version >/dev/null # builds if needed
prefix=$(mktemp -d)
trap './ferry uninstall --prefix "$prefix/p" 2>/dev/null; rm -rf "$prefix"' EXIT
./ferry install --prefix "$prefix/p" 2>/dev/null
declare -A total=()
for round in 1 2 3 4 5; do
    for what in "$wrapper" artifacts/publish/ferry/ferry "$prefix/p/bin/ferry"; do
        start=$(date +%s%N)
        for ((i = 0; i < n / 5; i++)); do "$what" --version >/dev/null; done
        total[$what]=$(( ${total[$what]:-0} + $(date +%s%N) - start ))
    done
done
for what in "$wrapper" artifacts/publish/ferry/ferry "$prefix/p/bin/ferry"; do
    label=$what; [ "$what" = "$prefix/p/bin/ferry" ] && label="PREFIX/bin/ferry (installed)"
    printf '%-32s %6.1f ms\n' "$label" "$(echo "${total[$what]} / $n / 1000000" | bc -l)"
done
