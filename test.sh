#!/usr/bin/env bash
# ./test.sh   runs every test of Ferry. Installs what it needs; KVM tests skip, with the reason
# shown, only where /dev/kvm is missing. Ends with a line "N passed, N failed, N skipped".
set -uo pipefail
source "$(dirname "$0")/scripts/prerequisites.sh"
cd "$ferry_root"

ensure_packages "${ferry_packages[@]}" qemu-system-x86 iperf3 busybox-static || exit 1
ensure_dotnet || exit 1

echo "== building the test guest"
guest=$(build_guest) || exit 1
export FERRY_GUEST_DIR="$guest"
echo "   $guest"

echo "== building ferry and ferryd (NativeAOT), which the end-to-end tests run"
bin=$(build_ferry) || exit 1
export FERRY_BIN="$bin"
echo "   $bin"
# The agent tests and the test bed run the host agent as it is installed; ./ferry install's test
# then finds it built.
agent=$(build_ferryd) || exit 1
export FERRYD_BIN="$agent"
echo "   $agent"

# Each VM's control socket goes into a run directory of this test run only.
export FERRY_RUN_DIR="$ferry_root/artifacts/run"
mkdir -p "$FERRY_RUN_DIR"

echo "== running the tests"
results="$ferry_root/artifacts/test-results"
rm -rf "$results"
dotnet build Ferry.sln -v quiet -nologo 2>&1 | grep -E "error|warn" ; build=${PIPESTATUS[0]}
[ "$build" -eq 0 ] || { echo "ferry: the build failed"; exit 1; }
status=0
# One project at a time, each into its own results file: guests of different projects never
# compete for the two cores, and no two runs write the same file.
for project in tests/*/*.csproj; do
    name=$(basename "$project" .csproj)
    echo "-- $name"
    # A hung test fails its project (with a dump) instead of holding CI until its deadline.
    dotnet test "$project" --no-build --blame-hang-timeout 10m --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
        --logger "console;verbosity=minimal" 2>&1 | grep -vE "^\s*$|Results File:|A total of .* test files matched|^Test run for" || true
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

python3 "$ferry_root/scripts/summarize-trx.py" "$results"/*.trx || status=1
exit $status
