#!/usr/bin/env bash
# scripts/failure-matrix.sh   the whole failure matrix (every fault at the start of every phase of
# every mode, hybrid included) against real VMM processes; ./test.sh runs it without hybrid.
# Prints one line per case: mode, phase, fault, where the VM ended.
set -euo pipefail
source "$(dirname "$0")/prerequisites.sh"
cd "$ferry_root"
ensure_dotnet
export FERRY_GUEST_DIR=$(build_guest) FERRY_BIN=$(build_ferry) FERRY_RUN_DIR="$ferry_root/artifacts/run" FERRY_FAILURE_MATRIX=full
mkdir -p "$FERRY_RUN_DIR"
dotnet build tests/Ferry.Cli.Tests -v quiet -nologo
dotnet test tests/Ferry.Cli.Tests --no-build --filter "FullyQualifiedName~FailureMatrixTests" --logger "console;verbosity=detailed" \
    | grep -E "^ (cold|precopy|postcopy|hybrid) |^\s+Failed |^(Passed|Failed)!"
