#!/usr/bin/env bash
# bench/vmm.sh [RUNS]: the VMM benchmarks of the boot issue, side by side with QEMU in one run.
#   - process start to the test guest's ready line: ferry vs qemu -M microvm and -M pc
#   - pause latency of a busy 2-vCPU guest (p50, p99)
#   - resident memory of the VMM beyond guest memory
# Needs /dev/kvm and qemu-system-x86 (installed when missing). Prints JSON lines and a summary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${1:-10}
source "$root/scripts/prerequisites.sh"
ensure_packages "${ferry_packages[@]}" qemu-system-x86
ensure_dotnet
ferry=$(build_ferry)
guest=$(build_guest)
peer="$root/../shared/peers/qemu"
out=$(mktemp -d /tmp/ferry-bench-XXXX)
export FERRY_RUN_DIR="$out/run"

qemu_boot() {  # machine
    SKIP_APT=1 "$peer/boot-time.sh" --mem 1G --cpus 2 --runs "$runs" --machine "$1" \
        --kernel "$guest/ferry-guest.elf" --initrd "$guest/initrd.cpio" \
        --base-append "ferry.workload=hello-glibc" --ready '^ferry-guest: ready' --out "$out/qemu-$1" 2>/dev/null
}

echo "# boot: process start to 'ferry-guest: ready' (1 GiB, 2 vCPUs, $runs runs each)"
f=$(python3 "$here/vmm_bench.py" boot --ferry "$ferry" --guest "$guest" --runs "$runs" 2>/dev/null); echo "$f"
m=$(qemu_boot microvm); echo "{\"vmm\":\"qemu-microvm\",${m#\{}"
p=$(qemu_boot pc); echo "{\"vmm\":\"qemu-pc\",${p#\{}"
python3 - "$f" "$m" "$p" <<'PY'
import json, sys
f, m, p = (json.loads(x) for x in sys.argv[1:])
print(f"# median boot: ferry {f['median_ms']} ms, qemu microvm {m['median_ms']} ms, qemu pc {p['median_ms']} ms")
print(f"# ratio ferry/qemu-microvm = {f['median_ms'] / m['median_ms']:.2f}, ferry/qemu-pc = {f['median_ms'] / p['median_ms']:.3f}")
PY

echo "# pause latency, busy 2-vCPU guest"
python3 "$here/vmm_bench.py" pause --ferry "$ferry" --guest "$guest"
echo "# resident memory beyond guest RAM"
python3 "$here/vmm_bench.py" rss --ferry "$ferry" --guest "$guest"
rm -rf "$out"
