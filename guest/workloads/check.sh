#!/bin/bash
# guest/workloads/check.sh DIR - runs the built workloads natively and checks that each
# prints its contract lines (README.md) and exits as documented. `make check` calls it.
set -uo pipefail
dir=${1:?usage: check.sh DIR}
failed=0 passed=0

# expect NAME STATUS REGEX -- COMMAND...: COMMAND exits with STATUS and some line of its
# stdout matches the extended REGEX.
expect() {
    local name=$1 want=$2 regex=$3; shift 4
    local out status
    out=$("$@" 2>/dev/null); status=$?
    if [ "$status" = "$want" ] && grep -Eq "$regex" <<< "$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $status (want $want); output:"; head -5 <<< "$out" | sed 's/^/    /'
    fi
}
# heartbeats NAME: the HB lines on stdin count 1, 2, 3... with rising times.
heartbeats() {
    awk -v name="$1" '$1 == "HB" { n++; if ($2 != n || $3 <= t) { print "FAIL " name ": bad HB line " $0; exit 1 } t = $3 }
        END { if (n < 5) { print "FAIL " name ": only " n " heartbeats"; exit 1 } }'
}

expect hello-glibc 0 '^hello from glibc argc=3 args=a,b monotonic-ns=[0-9]+ realtime-s=[0-9]+$' -- "$dir/hello-glibc" a b
expect hello-musl 0 '^hello from musl argc=1 args= monotonic-ns=[0-9]+ realtime-s=[0-9]+$' -- "$dir/hello-musl"
expect memtouch 0 '^memtouch ready mb=8 threads=2 rate=20000 pattern=hotcold$' -- "$dir/memtouch" --mb 8 --threads 2 --rate 20000 --pattern hotcold --hb-ms 5 --seconds 1
expect memtouch-done 0 '^memtouch done seconds=1\.[0-9]{3} pages=[0-9]+ rate=[0-9]+$' -- "$dir/memtouch" --mb 8 --rate max --seconds 1
for args in "--rate 0" "--rate 5000 --pattern random" "--rate max --threads 2"; do
    if "$dir/memtouch" --mb 8 $args --hb-ms 2 --seconds 1 | heartbeats "memtouch $args"; then
        passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
expect memverify 0 '^memverify done pass=[1-9][0-9]* pages=[0-9]+ bad=0$' -- "$dir/memverify" --mb 8 --seconds 1
expect memverify-ok 0 '^memverify OK pass=[0-9]+ pages=[0-9]+ bad=0 mb=8 mode=idle$' -- "$dir/memverify" --mb 8 --mode idle --period-ms 200 --seconds 1
expect memverify-swap 1 '^memverify BAD page=1 gen=0 word=0 expected=0x[0-9a-f]{16} got=0x[0-9a-f]{16} holds=page=2,gen=0,word=0$' -- "$dir/memverify" --mb 1 --seconds 1 --inject swap
expect memverify-zero 1 'holds=zero$' -- "$dir/memverify" --mb 1 --mode idle --seconds 1 --inject zero
expect threads 0 '^threads ok n=3 cpus-seen=[1-9][0-9]*$' -- "$dir/threads" --threads 3 --spin-ms 20
expect threads-musl 0 '^threads ok n=[1-9][0-9]* cpus-seen=[1-9][0-9]*$' -- "$dir/threads-musl" --spin-ms 20
expect netserve-native 1 '' -- "$dir/netserve" --ip 10.0.0.2/24   # no /dev/net0 natively
expect badsyscall 0 '^badsyscall returned -1 errno=38 nr=999$' -- "$dir/badsyscall"
for kind in null write-ro ud gp div0; do
    # Killed by a signal: the shell reports 128 + signal number.
    signal=$(case $kind in ud) echo 132 ;; div0) echo 136 ;; *) echo 139 ;; esac)
    expect "fault $kind" "$signal" "^fault: about to $kind\$" -- "$dir/fault" "$kind"
done
expect clockcheck 0 '^clockcheck ok reads=[0-9]+ max-step-ns=[0-9]+ backwards=0 sleeps=[0-9]+ max-sleep-ns=[0-9]+ short-sleeps=0$' -- "$dir/clockcheck" --seconds 1
if "$dir/clockcheck" --seconds 1 --hb-ms 5 | heartbeats clockcheck; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
expect syscallbench 0 '^syscallbench getpid_ns=[0-9]+\.[0-9] clock_gettime_ns=[0-9]+\.[0-9] nanosleep_ns=[0-9]+\.[0-9]$' -- "$dir/syscallbench" --ms 20
expect usage-error 2 '^$' -- "$dir/memtouch" --pattern nonsense

# blkverify on a temporary file standing in for the disk: a run, a verify-only pass, a run that
# carries on from the header, its heartbeats, and damage the verifier must find.
img=$(mktemp "${TMPDIR:-/tmp}/blkverify-check.XXXXXX")
trap 'rm -f "$img"' EXIT
truncate -s 1M "$img"
expect blkverify 0 '^blkverify done written=[1-9][0-9]* acked=[1-9][0-9]* verified=[1-9][0-9]* bad=0$' -- "$dir/blkverify" --dev "$img" --rate 0 --seconds 1
expect blkverify-verify 0 '^blkverify verified dev=.* blocks=255 acked=[1-9][0-9]* gen=[1-9][0-9]* written=255 zero=0 bad=0$' -- "$dir/blkverify" --dev "$img" --verify-only
expect blkverify-carry-on 0 '^blkverify ready dev=.* blocks=255 rate=2000 sync=64 start-seq=([2-9]|[1-9][0-9]+)$' -- "$dir/blkverify" --dev "$img" --rate 2000 --seconds 1
if "$dir/blkverify" --dev "$img" --rate 500 --hb-ms 5 --seconds 1 | heartbeats blkverify; then
    passed=$((passed + 1)); else failed=$((failed + 1)); fi
printf '\xff' | dd of="$img" bs=1 seek=$((7 * 4096 + 100)) conv=notrunc status=none
expect blkverify-corrupt 1 '^blkverify BAD block=7 kind=corrupt expected-seq=[0-9]+ found-seq=[0-9]+ bad=checksum$' -- "$dir/blkverify" --dev "$img" --verify-only
dd if=/dev/zero of="$img" bs=4096 seek=9 count=1 conv=notrunc status=none
expect blkverify-lost 1 '^blkverify BAD block=9 kind=lost expected-seq=[1-9][0-9]* found-seq=0$' -- "$dir/blkverify" --dev "$img" --verify-only

# blkbench on the same temporary file: one result line per test, then the done line.
expect blkbench 0 '^blkbench result test=randwrite bs=65536 ops=[1-9][0-9]* seconds=[0-9.]+ iops=[0-9.]+ mib_s=[0-9.]+ lat_us_p50=[0-9.]+ lat_us_p99=[0-9.]+ lat_us_max=[0-9.]+ fsync_ms=[0-9.]+$' -- "$dir/blkbench" --dev "$img" --tests seqread:4K,randwrite:64K --seconds 1 --syscall-ms 10
expect blkbench-done 0 '^blkbench done tests=2$' -- "$dir/blkbench" --dev "$img" --tests seqread:512,randread:1M --seconds 1 --syscall-ms 0
expect blkbench-usage 2 '^$' -- "$dir/blkbench" --dev "$img" --tests seqread:1000

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
