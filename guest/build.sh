#!/bin/bash
# guest/build.sh - build Ferry's test guest: the kernel image and an initrd of workloads.
#
# usage: guest/build.sh --out DIR [--add FILE[:GUESTPATH]]... [--print-cache-dir]
#
#   --out DIR               write DIR/ferry-guest.elf and DIR/initrd.cpio
#   --add FILE[:GUESTPATH]  also put FILE into the initrd at GUESTPATH (absolute;
#                           default /bin/<name of FILE>); parent directories are
#                           created and FILE's mode is kept. An ELF program must be
#                           statically linked. An added file replaces a workload of
#                           the same path.
#   --print-cache-dir       print the cache directory of this build and exit
#                           (nothing is built)
#
# The initrd is a cpio "newc" archive holding every workload of guest/workloads in /bin.
# Outputs are cached by content in ${XDG_CACHE_HOME:-~/.cache}/ferry/guest/<hash>: the
# hash covers the sources of guest/kernel and guest/workloads, this script, the added
# files (contents, modes and guest paths) and the compiler and linker versions, so a
# second build with nothing changed only copies two files.
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }
usage() { echo "usage: guest/build.sh --out DIR [--add FILE[:GUESTPATH]]... [--print-cache-dir]" >&2; exit 2; }

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KERNEL_DIR=$GUEST_DIR/kernel
WORKLOADS_DIR=$GUEST_DIR/workloads

out=
print_cache_dir=0
add_files=()    # host paths
add_paths=()    # guest paths, without the leading /
while [ $# -gt 0 ]; do
    case $1 in
        --out) [ $# -ge 2 ] && [ -n "$2" ] || usage; out=$2; shift 2 ;;
        --out=*) out=${1#--out=}; [ -n "$out" ] || usage; shift ;;
        --add|--add=*)
            if [ "$1" = --add ]; then [ $# -ge 2 ] || usage; spec=$2; shift 2
            else spec=${1#--add=}; shift; fi
            # FILE:GUESTPATH only when what follows the last colon is an absolute path,
            # so a host file name with a colon in it still works on its own.
            if [[ $spec == *:/* ]]; then file=${spec%:*}; gpath=${spec##*:}
            else file=$spec; gpath=/bin/$(basename "$spec"); fi
            [ -n "$file" ] || usage
            [ -f "$file" ] || die "--add $spec: $file is not a regular file"
            gpath=${gpath#/}
            # Collapse repeated slashes; refuse paths that would climb out of the root.
            gpath=$(echo "$gpath" | tr -s /); gpath=${gpath%/}
            case /$gpath/ in
                //|*/../*|*/./*) die "--add $spec: guest path /$gpath is not a plain absolute file path" ;;
            esac
            for p in "${add_paths[@]+"${add_paths[@]}"}"; do
                [ "$p" != "$gpath" ] || die "--add $spec: guest path /$gpath is given twice"
            done
            add_files+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
            add_paths+=("$gpath")
            ;;
        --print-cache-dir) print_cache_dir=1; shift ;;
        -h|--help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) usage ;;
    esac
done
[ -n "$out" ] || [ $print_cache_dir = 1 ] || usage

[ -f "$KERNEL_DIR/Makefile" ] || die "guest/kernel/Makefile not found: the guest kernel is not in this tree yet"

# --- Debian packages -------------------------------------------------------------------
# Installed only when something is missing, so a normal build never touches apt.
missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v cpio >/dev/null || missing+=(cpio)
# netserve links lwIP, whose sources guest/workloads/fetch-lwip.sh gets with apt-get source
command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
command -v readelf >/dev/null && command -v ld >/dev/null || missing+=(binutils)
# gcc -static needs glibc's static archives, which come with libc6-dev
# (gcc prints the bare name when it cannot find the file).
libc_a=$(gcc -print-file-name=libc.a 2>/dev/null || true)
[ "$libc_a" != libc.a ] && [ -f "$libc_a" ] || missing+=(libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); install them as root: apt-get install ${missing[*]}"
    echo "build.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >&2 \
        || die "apt-get install ${missing[*]} failed"
fi

# --- Cache key -------------------------------------------------------------------------
# Source files: what git would track (tracked or untracked, not ignored) when this is a
# work tree, so in-tree build leftovers do not change the key; else every file.
list_sources() {
    local dir=$1
    if git -C "$dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$dir" && git ls-files -z -co --exclude-standard -- . | sort -z | tr '\0' '\n')
    else
        (cd "$dir" && find . -type f -print | LC_ALL=C sort)
    fi
}
hash_tree() {
    local dir=$1 f
    list_sources "$dir" | while IFS= read -r f; do
        [ -f "$dir/$f" ] || continue   # deleted but still in the index
        printf '%s %s\n' "$f" "$(sha256sum < "$dir/$f" | cut -d' ' -f1)"
    done
}
musl_version() {
    # The musl package version is what matters (libc.a changes with it).
    dpkg-query -W -f '${Version}\n' musl-dev 2>/dev/null || musl-gcc -dumpversion
}
key=$(
    echo "ferry-guest-cache v1"
    echo "== build.sh"; sha256sum < "${BASH_SOURCE[0]}"
    echo "== kernel"; hash_tree "$KERNEL_DIR"
    echo "== workloads"; hash_tree "$WORKLOADS_DIR"
    echo "== tools"; gcc --version | head -1; musl_version; ld --version | head -1; make --version | head -1
    echo "== added"
    for i in "${!add_files[@]}"; do
        printf '%s %s %s\n' "${add_paths[$i]}" "$(stat -c %a "${add_files[$i]}")" \
            "$(sha256sum < "${add_files[$i]}" | cut -d' ' -f1)"
    done
)
hash=$(printf '%s\n' "$key" | sha256sum | cut -c1-32)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/ferry/guest
cache=$cache_root/$hash
if [ $print_cache_dir = 1 ]; then echo "$cache"; exit 0; fi

# --- Static-program check ----------------------------------------------------------------
# The guest has no dynamic loader, so a program with an interpreter could never start.
check_static() {   # FILE WHAT
    local magic
    magic=$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')
    [ "$magic" = 7f454c46 ] || return 0          # not ELF: a data file, fine
    readelf -lW "$1" >/dev/null 2>&1 || die "$2: readelf cannot read it (a broken ELF file?)"
    if readelf -lW "$1" | grep -q '^ *INTERP '; then
        die "$2 is dynamically linked (it has an ELF interpreter); the guest runs static programs only: rebuild it with -static"
    fi
    # No interpreter but shared libraries needed: a shared object, just as unusable.
    if readelf -dW "$1" 2>/dev/null | grep -q '(NEEDED)'; then
        die "$2 needs shared libraries; the guest runs static programs only: rebuild it with -static"
    fi
    return 0
}
for i in "${!add_files[@]}"; do check_static "${add_files[$i]}" "--add ${add_files[$i]}"; done

# --- Build (or reuse) ----------------------------------------------------------------------
mkdir -p "$cache_root"
build() {
    local tmp=$1 i
    make -s -C "$KERNEL_DIR" OUT="$tmp/kernel" >&2 || die "the guest kernel failed to build (make -C guest/kernel)"
    [ -f "$tmp/kernel/ferry-guest.elf" ] || die "make -C guest/kernel did not produce ferry-guest.elf"
    make -s -C "$WORKLOADS_DIR" OUT="$tmp/workloads" >&2 || die "the workloads failed to build (make -C guest/workloads)"

    mkdir -p "$tmp/root/bin"
    for f in "$tmp/workloads"/*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        check_static "$f" "workload $(basename "$f")"
        cp -p "$f" "$tmp/root/bin/"
    done
    for i in "${!add_files[@]}"; do
        mkdir -p "$tmp/root/$(dirname "${add_paths[$i]}")"
        rm -rf "$tmp/root/${add_paths[$i]}"
        cp -p "${add_files[$i]}" "$tmp/root/${add_paths[$i]}"
    done
    chmod 0755 "$tmp/root"
    find "$tmp/root" -type d -exec chmod 0755 {} +
    # Sorted names, owner root and fixed times, so the same inputs give the same archive.
    find "$tmp/root" -exec touch -h -d @0 {} +
    (cd "$tmp/root" && find . -mindepth 1 -print | LC_ALL=C sort \
        | cpio --quiet -o -H newc -R 0:0 --reproducible > "$tmp/initrd.cpio") \
        || die "cpio failed to write the initrd"

    mkdir "$tmp/result"
    mv "$tmp/kernel/ferry-guest.elf" "$tmp/initrd.cpio" "$tmp/result/"
}
# Entries unused for two weeks go when a new one is made, so that a kernel being worked
# on does not fill the disk. One still locked by another build is left alone.
prune_cache() {
    local entry
    find "$cache_root" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{32}' -mtime +14 -print |
        while IFS= read -r entry; do
            ( flock -n 8 && rm -rf "$entry" "$entry.lock" ) 8>"$entry.lock" || true
        done
}
# One lock per key: concurrent builds of the same inputs wait for the first one;
# builds of different inputs go ahead in parallel.
exec 9>"$cache.lock"
flock 9
if [ ! -f "$cache/ferry-guest.elf" ] || [ ! -f "$cache/initrd.cpio" ]; then
    tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    build "$tmp"
    rm -rf "$cache"
    mv "$tmp/result" "$cache"     # atomic: a cache entry is complete or absent
    rm -rf "$tmp"
    trap - EXIT
    prune_cache
fi
touch "$cache"   # marks the entry as used, for prune_cache

# --- Deliver --------------------------------------------------------------------------------
# Copies, not hard links, so that nobody who edits DIR's files corrupts the cache.
# Each file is written under a temporary name and renamed into place.
mkdir -p "$out"
for f in ferry-guest.elf initrd.cpio; do
    cp "$cache/$f" "$out/.$f.tmp.$$"
    mv -f "$out/.$f.tmp.$$" "$out/$f"
done
flock -u 9
echo "$out/ferry-guest.elf"
echo "$out/initrd.cpio"
