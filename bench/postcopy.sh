#!/usr/bin/env bash
# bench/postcopy.sh [--technique postcopy|hybrid] [--runs N] [--cases a,b] [--sides a,b] [--out DIR]
# ...: live post-copy (or hybrid) migration, Ferry side by side with QEMU's post-copy in one run,
# through the same harness as bench/precopy.sh (bench/precopy_bench.py; --help lists the options).
# Default sides: ferry, qemu (postcopy-ram) and qemu-preempt (with postcopy-preempt); QEMU's
# destination also reports postcopy-blocktime, and both VMMs' CPU cost outside their vCPU threads
# is measured the same way. Default cases: every pre-copy case plus the fault storm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
args=("$@")
[[ " ${args[*]} " == *" --technique "* ]] || args=(--technique postcopy "${args[@]}")
[[ " ${args[*]} " == *" --cases "* ]] || args+=(--cases idle-1g,filled-4g,dirty-20k,dirty-200k,fault-storm,bw-1gbit)
exec "$here/precopy.sh" "${args[@]}"
