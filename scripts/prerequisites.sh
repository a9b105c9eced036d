# Sourced by ./ferry and ./test.sh: installs what Ferry needs on a fresh Debian 12 machine.
# Each function prints one clear line and returns non-zero when something cannot be had.

ferry_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ferry_logs="$ferry_root/artifacts/logs"
mkdir -p "$ferry_logs"

# Debian packages: gcc/make/binutils/musl-tools/cpio build the test guest (dpkg-dev: its
# netserve workload links lwIP, fetched with apt-get source by guest/workloads/fetch-lwip.sh,
# which also adds a deb-src entry when apt has none), clang and zlib1g-dev link the NativeAOT
# ferry, python3 reads test results.
ferry_packages=(gcc make binutils musl-tools cpio dpkg-dev clang zlib1g-dev python3 xz-utils)

ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
        echo "ferry: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
        return 1
    fi
    local sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
    echo "ferry: installing Debian packages: ${missing[*]}" >&2
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } >"$ferry_logs/apt.log" 2>&1; then
        echo "ferry: could not install ${missing[*]} (see $ferry_logs/apt.log)" >&2
        return 1
    fi
}

ensure_dotnet() {
    if ! command -v dotnet >/dev/null; then
        echo "ferry: the .NET 10 SDK is needed and 'dotnet' is not on PATH (install dotnet-sdk-10.0)" >&2
        return 1
    fi
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
}

# Publishes the NativeAOT ferry into artifacts/publish when its sources changed; prints its path.
build_ferry() {
    local out="$ferry_root/artifacts/publish/ferry" stamp="$ferry_root/artifacts/publish/.sources"
    local hash
    hash=$(cd "$ferry_root" && find src Directory.Build.props Directory.Packages.props global.json -type f \
        \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' \) -not -path '*/obj/*' -not -path '*/bin/*' \
        -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
    if [ -x "$out/ferry" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
        echo "$out/ferry"; return 0
    fi
    echo "ferry: building the ferry binary (NativeAOT; the first build takes a minute or two)..." >&2
    if ! dotnet publish "$ferry_root/src/Ferry.Cli/Ferry.Cli.csproj" -c Release -r linux-x64 -o "$out" >"$ferry_logs/publish.log" 2>&1; then
        echo "ferry: building ferry failed (see $ferry_logs/publish.log):" >&2
        grep -E "error|Error" "$ferry_logs/publish.log" | head -5 >&2
        return 1
    fi
    echo "$hash" >"$stamp"
    echo "$out/ferry"
}

# Builds the test guest (kernel + initrd) into artifacts/guest; cached by guest/build.sh.
build_guest() {
    local out="$ferry_root/artifacts/guest"
    if ! "$ferry_root/guest/build.sh" --out "$out" >"$ferry_logs/guest.log" 2>&1; then
        echo "ferry: building the test guest failed (see $ferry_logs/guest.log):" >&2
        tail -5 "$ferry_logs/guest.log" >&2
        return 1
    fi
    echo "$out"
}
