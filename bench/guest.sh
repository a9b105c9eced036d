#!/usr/bin/env bash
# bench/guest.sh: the test guest's benchmarks, measured under ferry in one run.
#   - memtouch's unthrottled dirty rate in the guest against the same program run natively
#   - the cost of one system call, one vDSO clock_gettime and one nanosleep (timer interrupt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
source "$root/scripts/prerequisites.sh"
ensure_packages "${ferry_packages[@]}"
ensure_dotnet
ferry=$(build_ferry)
guest=$(build_guest)
tmp=$(mktemp -d /tmp/ferry-guest-bench-XXXX)
export FERRY_RUN_DIR="$tmp/run"
make -s -C "$root/guest/workloads" OUT="$tmp/native" >/dev/null

in_guest() {  # program args -> console
    "$ferry" run --kernel "$guest/ferry-guest.elf" --initrd "$guest/initrd.cpio" --memory 2G --cpus "$1" \
        --name "gbench-$$" --cmdline "ferry.workload=$2 ferry.args=\"$3\" ferry.poweroff=1" 2>/dev/null
}
rate() { grep -o 'rate=[0-9.]*' | tail -1 | cut -d= -f2; }

for mb in 256 1024; do
    for threads in 1 2; do
        args="--mb $mb --rate max --threads $threads --seconds 5"
        native=$("$tmp/native/memtouch" $args | rate)
        guest_rate=$(in_guest 2 memtouch "$args" | rate)
        python3 -c "print(f'memtouch $args: native {float($native):,.0f} pages/s, guest {float($guest_rate):,.0f} pages/s, ratio {float($guest_rate)/float($native):.2f}')"
    done
done
echo "syscall costs in the guest (1 vCPU):  $(in_guest 1 syscallbench "" | grep "^syscallbench")"
echo "syscall costs in the guest (2 vCPUs): $(in_guest 2 syscallbench "" | grep "^syscallbench")"
echo "syscall costs natively:               $("$tmp/native/syscallbench")"
rm -rf "$tmp"
