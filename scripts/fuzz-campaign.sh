#!/usr/bin/env bash
# A coverage-guided fuzzing campaign over Ferry's parsers: SharpFuzz instruments the Ferry
# assemblies, AFL++ drives fuzz/Ferry.Fuzz target by target from the committed seed corpus.
#
#   scripts/fuzz-campaign.sh [--seconds N] [--targets a,b,c] [--out DIR]
#
#   --seconds N     how long AFL++ fuzzes each target (default 300)
#   --targets LIST  comma-separated targets (default: every target of `Ferry.Fuzz --list`)
#   --out DIR       AFL++ output, one directory per target, and summary.md (default artifacts/fuzz)
#
# Prints one line per target (executions, execs/s, coverage, corpus, crashes, hangs) and a total,
# writes the same table to DIR/summary.md, then replays every crash so that each comes with its
# reproducer. Exits 1 if any target crashed or could not be fuzzed.
set -euo pipefail

# shellcheck source=scripts/prerequisites.sh
source "$(dirname "${BASH_SOURCE[0]}")/prerequisites.sh"

seconds=300
targets=""
out="$ferry_root/artifacts/fuzz"
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
        --targets) targets=${2:?--targets needs a list}; shift 2 ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fuzz-campaign: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz-campaign: --seconds wants a positive whole number, not $seconds" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)   # afl-fuzz and the replay run from other directories

# --- 1. What the campaign needs on a fresh machine -------------------------------------------
ensure_dotnet
ensure_packages afl++
tools="$ferry_root/artifacts/tools"
sharpfuzz="$tools/sharpfuzz"
if [ ! -x "$sharpfuzz" ]; then
    echo "fuzz-campaign: installing the sharpfuzz tool into $tools" >&2
    dotnet tool install --tool-path "$tools" SharpFuzz.CommandLine --version 2.3.0 >"$ferry_logs/sharpfuzz-install.log" 2>&1 \
        || { echo "fuzz-campaign: installing SharpFuzz.CommandLine failed (see $ferry_logs/sharpfuzz-install.log)" >&2; exit 1; }
fi

# --- 2. Build, copy, instrument --------------------------------------------------------------
echo "fuzz-campaign: building fuzz/Ferry.Fuzz (Release)" >&2
if ! dotnet build "$ferry_root/fuzz/Ferry.Fuzz" -c Release >"$ferry_logs/fuzz-build.log" 2>&1; then
    echo "fuzz-campaign: the build failed (see $ferry_logs/fuzz-build.log):" >&2
    grep -E "error" "$ferry_logs/fuzz-build.log" | sort -u | head -5 >&2
    exit 1
fi
# Two private copies of the build: other builds may rewrite artifacts/bin while the campaign runs,
# and sharpfuzz rewrites assemblies in place (and refuses an assembly it has already instrumented).
# 'plain' is left as built and replays crashes: a reproducer must crash the real code, not
# only the instrumented one, and instrumented code expects AFL++'s shared memory.
build="$ferry_root/artifacts/bin/Ferry.Fuzz/release"
work="$out/.work"
rm -rf "$work"
mkdir -p "$work"
cp -a "$build" "$work/instrumented"
cp -a "$build" "$work/plain"
# Only Ferry's own parsers are worth the coverage: ferry.dll is Ferry.Cli (its AssemblyName).
# Ferry.Kvm only opens /dev/kvm to read the host's limits, and SharpFuzz, System.* and the other
# packages would spend AFL++'s 64 KiB map on code we do not own.
for dll in Ferry.Migration.dll Ferry.Vmm.dll ferry.dll; do
    [ -f "$work/instrumented/$dll" ] || { echo "fuzz-campaign: $dll is not in the build output $build" >&2; exit 1; }
    "$sharpfuzz" "$work/instrumented/$dll" >>"$ferry_logs/sharpfuzz.log" 2>&1 \
        || { echo "fuzz-campaign: instrumenting $dll failed (see $ferry_logs/sharpfuzz.log)" >&2; exit 1; }
done

all_targets=$(dotnet "$work/plain/Ferry.Fuzz.dll" --list | awk '{print $1}')
[ -n "$targets" ] || targets=$(echo "$all_targets" | paste -sd,)
IFS=, read -r -a chosen <<<"$targets"
runnable=()
for t in "${chosen[@]}"; do
    if ! grep -qx -- "$t" <<<"$all_targets"; then
        echo "fuzz-campaign: no target $t (targets: $(echo "$all_targets" | paste -sd' '))" >&2; exit 2
    fi
    [ -d "$ferry_root/fuzz/corpus/$t" ] || { echo "fuzz-campaign: target $t has no seed corpus fuzz/corpus/$t" >&2; exit 1; }
    # vm-state checks the decoded state against this host's KVM: without /dev/kvm every input
    # would "crash", so it is skipped rather than reported as a finding.
    if [ "$t" = vm-state ] && [ ! -e /dev/kvm ]; then
        echo "fuzz-campaign: skipping vm-state (it needs /dev/kvm)" >&2; continue
    fi
    runnable+=("$t")
done

# --- 3. Fuzz each target ---------------------------------------------------------------------
# A container has no CPU-frequency governor, usually pipes core dumps to a handler, and runs
# without a terminal; AFL++ would refuse each of these. dotnet itself is not instrumented (the
# instrumentation is in the assemblies it loads), so AFL++'s check of the binary is skipped.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1
# The first run of each input pays for the JIT: give the fork server time to come up.
export AFL_FORKSRV_INIT_TMOUT=60000

# afl-fuzz runs in the background and the script waits for it: bash runs a trap only once the
# foreground command ends, so this is what lets Ctrl-C or a TERM stop the campaign at once.
afl_pid=""
stop_fuzzer() {
    if [ -n "$afl_pid" ] && kill -0 "$afl_pid" 2>/dev/null; then
        kill -TERM "$afl_pid" 2>/dev/null || true   # timeout passes it to afl-fuzz, which ends its fork server
        wait "$afl_pid" 2>/dev/null || true
    fi
    afl_pid=""
}
trap 'stop_fuzzer; echo "fuzz-campaign: interrupted" >&2; exit 130' INT TERM
trap 'stop_fuzzer' EXIT

# Runs afl-fuzz on one target; returns its exit status. The log goes to OUT/<target>.log.
fuzz_one() {
    local t=$1 log="$out/$1.log"
    # Each campaign starts from the seeds: AFL++ refuses an output directory of an earlier run.
    rm -rf "${out:?}/$t"
    # -V is the budget; timeout is only a backstop should afl-fuzz hang before it starts fuzzing.
    timeout -s INT -k 30 $((seconds + 180)) \
        afl-fuzz -i "$ferry_root/fuzz/corpus/$t" -o "$out/$t" -V "$seconds" -t 5000 -m none \
        -- dotnet "$work/instrumented/Ferry.Fuzz.dll" "$t" >"$log" 2>&1 &
    afl_pid=$!
    local rc=0
    wait "$afl_pid" || rc=$?
    afl_pid=""
    return $rc
}

failed=()
for t in "${runnable[@]}"; do
    echo "fuzz-campaign: fuzzing $t for ${seconds}s" >&2
    if ! fuzz_one "$t"; then
        # On a shared machine every core may already be taken by another fuzzer: run unbound.
        if grep -qE "No more free CPU cores|setaffinity failed|cores on your system are allocated" "$out/$t.log" \
            && [ -z "${AFL_NO_AFFINITY:-}" ]; then
            echo "fuzz-campaign: binding to a CPU failed; running $t with AFL_NO_AFFINITY=1" >&2
            export AFL_NO_AFFINITY=1
            fuzz_one "$t" || true
        fi
    fi
    if [ ! -f "$out/$t/default/fuzzer_stats" ]; then
        # Typically a seed that already crashes or hangs: AFL++ 4.04c stops in its dry run.
        echo "fuzz-campaign: afl-fuzz did not fuzz $t (see $out/$t.log):" >&2
        sed 's/\x1b[[(][0-9;?]*[a-zA-Z]//g' "$out/$t.log" | grep -E "PROGRAM ABORT|Location|\[-\]" | head -6 >&2 || true
        failed+=("$t")
    fi
done
trap - INT TERM EXIT

# --- 4. Summary ------------------------------------------------------------------------------
# A value of one fuzzer_stats file; AFL++ renamed some (unique_crashes -> saved_crashes,
# paths_total -> corpus_count), so each lookup may name the older key as a fallback.
afl_stat() {
    local file=$1; shift
    local key v
    for key in "$@"; do
        v=$(awk -F' *: *' -v k="$key" '$1 == k { print $2; exit }' "$file")
        [ -n "$v" ] && { echo "$v"; return; }
    done
    echo 0
}

header=(target executions execs/s coverage edges corpus crashes hangs)
fmt="%-16s %12s %9s %9s %11s %7s %8s %6s\n"
rows=()
tot_execs=0 tot_time=0 tot_edges=0 tot_corpus=0 tot_crashes=0 tot_hangs=0
for t in "${runnable[@]}"; do
    f="$out/$t/default/fuzzer_stats"
    if [ ! -f "$f" ]; then rows+=("$t|-|-|-|-|-|-|-|not fuzzed"); continue; fi
    execs=$(afl_stat "$f" execs_done); eps=$(afl_stat "$f" execs_per_sec); cvg=$(afl_stat "$f" bitmap_cvg)
    edges=$(afl_stat "$f" edges_found); total_edges=$(afl_stat "$f" total_edges); corpus=$(afl_stat "$f" corpus_count paths_total)
    crashes=$(afl_stat "$f" saved_crashes unique_crashes); hangs=$(afl_stat "$f" saved_hangs unique_hangs)
    run_time=$(afl_stat "$f" run_time)
    rows+=("$t|$execs|$eps|$cvg|$edges/$total_edges|$corpus|$crashes|$hangs")
    tot_execs=$((tot_execs + execs)); tot_time=$((tot_time + run_time)); tot_edges=$((tot_edges + edges))
    tot_corpus=$((tot_corpus + corpus)); tot_crashes=$((tot_crashes + crashes)); tot_hangs=$((tot_hangs + hangs))
done
# Coverage maps of different targets do not add up: the total counts edges, not a percentage.
tot_eps=$(awk -v e="$tot_execs" -v s="$tot_time" 'BEGIN { printf "%.2f", (s > 0 ? e / s : 0) }')
rows+=("total|$tot_execs|$tot_eps|-|$tot_edges|$tot_corpus|$tot_crashes|$tot_hangs")

echo
# shellcheck disable=SC2059
printf "$fmt" "${header[@]}"
{
    echo "# Fuzzing campaign, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "${seconds}s per target, commit $(git -C "$ferry_root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ferry_root" diff --quiet 2>/dev/null || echo ' (with local changes)')."
    echo
    echo "| $(IFS='|'; echo "${header[*]}" | sed 's/|/ | /g') |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$out/summary.md"
for row in "${rows[@]}"; do
    IFS='|' read -r -a c <<<"$row"
    # shellcheck disable=SC2059
    printf "$fmt" "${c[@]:0:8}"
    echo "| ${c[0]} | ${c[1]} | ${c[2]} | ${c[3]} | ${c[4]} | ${c[5]} | ${c[6]} | ${c[7]} |" >>"$out/summary.md"
done
echo
echo "summary: $out/summary.md"

# --- 5. Every crash with its reproducer ------------------------------------------------------
crashed=0
for t in "${runnable[@]}"; do
    for file in "$out/$t"/default/crashes/id:*; do
        [ -f "$file" ] || continue
        crashed=$((crashed + 1))
        echo
        echo "crash in $t: reproducer $file"
        echo "  replay: dotnet $work/plain/Ferry.Fuzz.dll --replay $t $(printf %q "$file")"
        dotnet "$work/plain/Ferry.Fuzz.dll" --replay "$t" "$file" 2>&1 | sed 's/^/  /' || true
    done
done

if [ "$crashed" -gt 0 ] || [ ${#failed[@]} -gt 0 ]; then
    echo
    [ "$crashed" -gt 0 ] && echo "fuzz-campaign: $crashed crash(es) found" >&2
    [ ${#failed[@]} -gt 0 ] && echo "fuzz-campaign: not fuzzed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz-campaign: no crashes"
