# Shared by testbed/up, down, exec and fault. Everything the test bed makes carries its prefix
# and is listed in $bed/manifest; down removes exactly what the manifest lists, nothing else.
set -euo pipefail
# FERRYBED_PREFIX, _DIR, _MGMT and _GUEST let a second test bed (the test suite's) live beside a user's.
prefix=${FERRYBED_PREFIX:-ferrybed}
bed=${FERRYBED_DIR:-/run/$prefix}
mgmt_net=${FERRYBED_MGMT:-10.77.0}     # hosts .1..N, the machine itself .254 (to reach the agents)
guest_net=${FERRYBED_GUEST:-10.78.0}   # guests keep their address when they move; the client is .250
rootlink=${prefix:0:10}-root            # the one link in this machine's own namespace
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "testbed: $*" >&2; exit 1; }
ns() { echo "$prefix-$1"; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth, bridges, tc)"; }
exists() { [ -f "$bed/manifest" ]; }
hosts() { sed -n 's/^host //p' "$bed/manifest"; }
record() { echo "$*" >>"$bed/manifest"; }

# The ferry binaries the hosts run: FERRY_BIN/FERRYD_BIN, else the build's.
ferry_bin() { echo "${FERRY_BIN:-$root/artifacts/publish/ferry/ferry}"; }
ferryd_cmd() {
    if [ -n "${FERRYD_BIN:-}" ]; then echo "$FERRYD_BIN"
    elif [ -x "$root/artifacts/publish/ferryd/ferryd" ]; then echo "$root/artifacts/publish/ferryd/ferryd"
    else echo "dotnet $root/artifacts/bin/Ferry.Agent/debug/ferryd.dll"; fi
}

# Shapes one direction of a link: tbf at RATE (this kernel has tbf and htb; netem, for delay
# and loss, only where the kernel has sch_netem).
shape() { # NETNS DEV RATE
    [ "$3" = none ] && return 0
    ip -n "$1" link set "$2" txqueuelen 1000
    tc -n "$1" qdisc replace dev "$2" root tbf rate "$3" burst 256kb latency 20ms
}
