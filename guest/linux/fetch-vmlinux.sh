#!/bin/bash
# guest/linux/fetch-vmlinux.sh - fetch Debian's stock kernel for tests that boot Linux.
#
# usage: guest/linux/fetch-vmlinux.sh OUTDIR
#
# Writes OUTDIR/vmlinuz (the bzImage of the package behind linux-image-amd64) and
# OUTDIR/vmlinux (the uncompressed ELF inside it; it boots through its PVH note, so no
# in-guest decompressor has to run, which would take minutes where guest kernel code
# is emulated). The package is downloaded with apt-get download, never installed on
# this host. Results are cached in ${XDG_CACHE_HOME:-~/.cache}/ferry/linux/<package>_<version>,
# so a second run only copies two files.
set -euo pipefail

die() { echo "fetch-vmlinux.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] && [ -n "$1" ] && [[ $1 != -* ]] || { echo "usage: guest/linux/fetch-vmlinux.sh OUTDIR" >&2; exit 2; }
out=$1

for tool in apt-get apt-cache dpkg-deb xz grep tar; do
    command -v $tool >/dev/null || die "$tool is missing (this script needs a Debian host; xz comes with xz-utils)"
done

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/ferry/linux
mkdir -p "$cache_root"

# The versioned package the metapackage depends on and its version, e.g.
# "linux-image-6.1.0-56-amd64 6.1.192-2" (the metapackage pins it with "(= version)").
resolve() {
    apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
        sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -1
}
# apt-cache takes most of a second here, so its answer is remembered until the package
# lists change (apt-get update renames files in their directory, changing its mtime).
lists_stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
memo=$cache_root/resolved
stamp= pkg= version=
[ -f "$memo" ] && read -r stamp pkg version < "$memo" || true
if [ "${stamp:-}" != "$lists_stamp" ] || [ -z "${version:-}" ]; then
    read -r pkg version <<< "$(resolve)" || true
    if [ -z "${version:-}" ]; then
        # Fresh machines have no package lists yet.
        apt-get update -q >&2 || die "apt-get update failed"
        lists_stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
        read -r pkg version <<< "$(resolve)" || true
        [ -n "${version:-}" ] || die "apt-cache knows no linux-image-amd64 package with a pinned linux-image-<version> dependency"
    fi
    echo "$lists_stamp $pkg $version" > "$memo.$$" && mv -f "$memo.$$" "$memo"
fi

cache=$cache_root/${pkg}_$version

extract_vmlinux() {   # BZIMAGE OUT: the first xz stream that holds an ELF file
    local offset
    # The payload starts with the xz magic FD 37 7A 58 5A 00 (Debian builds with
    # CONFIG_KERNEL_XZ). --single-stream stops at its end and ignores what follows.
    for offset in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | cut -d: -f1); do
        # (Not a pipe: tail dies of SIGPIPE when xz stops early, and pipefail would see it.)
        if xz -dc --single-stream < <(tail -c +$((offset + 1)) "$1") > "$2" 2>/dev/null \
            && [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
            return 0
        fi
    done
    return 1
}

# One lock for the cache: concurrent runs wait for the first to fill it.
exec 9>"$cache.lock"
flock 9
if [ ! -f "$cache/vmlinux" ] || [ ! -f "$cache/vmlinuz" ]; then
    tmp=$(mktemp -d "$cache_root/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch-vmlinux.sh: downloading $pkg $version" >&2
    # apt-get download writes into the current directory. Its _apt sandbox user could
    # not write into our cache, so the download runs as root (no warning about it).
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >&2) || die "apt-get download $pkg=$version failed"
    deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || die "apt-get download left no .deb file"
    # Only ./boot is needed: unpacking the whole package (dpkg -x) would also write
    # hundreds of MiB of modules.
    mkdir "$tmp/root" "$tmp/result"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" --wildcards './boot/*' \
        || die "cannot unpack ./boot from $deb"
    vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* 2>/dev/null | head -1)
    [ -n "$vmlinuz" ] || die "$pkg has no boot/vmlinuz-*"
    cp "$vmlinuz" "$tmp/result/vmlinuz"
    cp "$tmp"/root/boot/config-* "$tmp/result/" 2>/dev/null || true
    extract_vmlinux "$tmp/result/vmlinuz" "$tmp/result/vmlinux" \
        || die "no xz-compressed ELF payload found in $(basename "$vmlinuz")"
    rm -rf "$cache"
    mv "$tmp/result" "$cache"
    rm -rf "$tmp"
    trap - EXIT
fi

mkdir -p "$out"
for f in vmlinuz vmlinux; do
    cp "$cache/$f" "$out/.$f.tmp.$$"
    mv -f "$out/.$f.tmp.$$" "$out/$f"
done
flock -u 9
echo "$out/vmlinuz"
echo "$out/vmlinux"
