# Sourced by ./ferry and ./test.sh: installs what Ferry needs on a fresh Debian 12 machine.
# Each function prints one clear line and returns non-zero when something cannot be had.

ferry_root=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)
ferry_logs="$ferry_root/artifacts/logs"
[ -d "$ferry_logs" ] || mkdir -p "$ferry_logs"

# Written once the packages it lists were found installed by this very script: while it is newer
# than this script and lists every package asked for, ensure_packages asks dpkg nothing (dpkg-query
# per package was most of what `./ferry ARGS` cost). Remove it to make the next run check again.
ferry_packages_stamp="$ferry_root/artifacts/.packages-ok"

# Debian packages: gcc/make/binutils/musl-tools/cpio build the test guest (dpkg-dev: its
# netserve workload links lwIP, fetched with apt-get source by guest/workloads/fetch-lwip.sh,
# which also adds a deb-src entry when apt has none), clang and zlib1g-dev link the NativeAOT
# ferry, python3 reads test results, acl's setfacl lets ferryd's jail open a VM's disk images
# to the VM's own user.
ferry_packages=(gcc make binutils musl-tools cpio dpkg-dev clang zlib1g-dev python3 xz-utils acl)

ensure_packages() {
    packages_checked "$@" && return 0
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && { packages_stamp "$@"; return 0; }
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
    packages_stamp "$@"
}

# True when the stamp is newer than this script and lists every package in "$@" (no process started).
packages_checked() {
    [ "$ferry_packages_stamp" -nt "${BASH_SOURCE[0]}" ] || return 1
    local known p
    read -r known <"$ferry_packages_stamp" || return 1
    known=" $known "
    for p in "$@"; do [[ "$known" == *" $p "* ]] || return 1; done
}

# Adds "$@" to the stamp; a stamp older than this script starts afresh.
packages_stamp() {
    local known=""
    [ "$ferry_packages_stamp" -nt "${BASH_SOURCE[0]}" ] && known=$(<"$ferry_packages_stamp")
    echo $(printf '%s\n' $known "$@" | sort -u) >"$ferry_packages_stamp"
}

ensure_dotnet() {
    if ! command -v dotnet >/dev/null; then
        echo "ferry: the .NET 10 SDK is needed and 'dotnet' is not on PATH (install dotnet-sdk-10.0)" >&2
        return 1
    fi
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
}

# The programs Ferry publishes (NativeAOT), each NAME:PROJECT, into artifacts/publish/NAME.
# `./ferry install` installs every one: ferry, and ferryd, the host agent.
ferry_programs=(ferry:src/Ferry.Cli/Ferry.Cli.csproj ferryd:src/Ferry.Agent/Ferry.Agent.csproj)

# Prints the first source file or directory changed since the publish that left stamp $1, nothing
# when none did. Comparing modification times costs a few milliseconds where hashing every source
# cost tens; a directory's time changes when a file in it is added, removed or renamed, so those
# count too.
changed_source_since() {
    local r=$ferry_root
    find "$r/src" "$r/Directory.Build.props" "$r/Directory.Packages.props" "$r/global.json" \( -name obj -o -name bin \) -prune -o \
        -newer "$1" \( -type d -o -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' \) -print -quit
}

# True when artifacts/publish/NAME holds a NAME built from the sources as they are.
program_is_current() {
    local stamp="$ferry_root/artifacts/publish/.built-$1"
    [ -x "$ferry_root/artifacts/publish/$1/$1" ] && [ -e "$stamp" ] && [ -z "$(changed_source_since "$stamp")" ]
}

# publish_program NAME PROJECT: publishes NAME (NativeAOT) into artifacts/publish/NAME when its
# sources changed since its last publish; prints the binary's path. The stamp is created just
# before the publish begins, so a source saved during a build counts as changed.
publish_program() {
    local name=$1 project=$2 out="$ferry_root/artifacts/publish/$1" stamp="$ferry_root/artifacts/publish/.built-$1"
    if program_is_current "$name"; then
        echo "$out/$name"; return 0
    fi
    ensure_packages "${ferry_packages[@]}" || return 1
    ensure_dotnet || return 1
    echo "ferry: building the $name binary (NativeAOT; the first build takes a minute or two)..." >&2
    mkdir -p "$out"
    touch "$stamp.new"
    if ! dotnet publish "$ferry_root/$project" -c Release -r linux-x64 -o "$out" >"$ferry_logs/publish-$name.log" 2>&1; then
        echo "ferry: building $name failed (see $ferry_logs/publish-$name.log):" >&2
        grep -E "error|Error" "$ferry_logs/publish-$name.log" | head -5 >&2
        rm -f "$stamp.new"
        return 1
    fi
    mv "$stamp.new" "$stamp"
    echo "$out/$name"
}

# Publishes the NativeAOT ferry into artifacts/publish/ferry when its sources changed; prints its path.
build_ferry() { publish_program ferry src/Ferry.Cli/Ferry.Cli.csproj; }

# Publishes the NativeAOT host agent into artifacts/publish/ferryd when its sources changed; prints its path.
build_ferryd() { publish_program ferryd src/Ferry.Agent/Ferry.Agent.csproj; }

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
