#!/bin/bash
# guest/workloads/fetch-lwip.sh: prints the directory of lwIP's sources (Debian's source
# package `lwip`, 2.1.3), fetching them first with `apt-get source` when they are not there.
# They live in a cache outside the repository (not committed): ${FERRY_LWIP_CACHE:-
# ${XDG_CACHE_HOME:-~/.cache}/ferry/src}/lwip-2.1.3+dfsg1. Needs dpkg-dev (dpkg-source; in
# scripts/prerequisites.sh's list, and guest/build.sh installs it when missing) and a deb-src
# entry: when apt has none, this script (as root) adds /etc/apt/sources.list.d/ferry-deb-src.sources
# for bookworm main on the mirror the machine's own deb entries use, and runs apt-get update.
set -eu
version=2.1.3+dfsg1
debver=$version-2
cache=${FERRY_LWIP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/src}
dir=$cache/lwip-$version
die() { echo "fetch-lwip.sh: $*" >&2; exit 1; }
if [ ! -f "$dir/src/core/tcp.c" ]; then
    command -v dpkg-source >/dev/null || die "dpkg-source is missing: apt-get install dpkg-dev"
    if ! grep -Eqs '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
        [ "$(id -u)" = 0 ] || die "apt has no deb-src entry: as root, add 'deb-src http://deb.debian.org/debian bookworm main' to /etc/apt/sources.list.d/ and apt-get update"
        mirror=$(grep -hEo '^URIs: *http[^ ]*/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//')
        [ -n "$mirror" ] || mirror=$(grep -hEo '^deb +http[^ ]*/debian ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
        [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
        echo "fetch-lwip.sh: adding a deb-src entry for $mirror bookworm main" >&2
        printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" > /etc/apt/sources.list.d/ferry-deb-src.sources
        apt-get update -q >&2 || die "apt-get update failed"
    fi
    mkdir -p "$cache"
    exec 9>"$cache/.lwip.lock"
    flock 9
    if [ ! -f "$dir/src/core/tcp.c" ]; then
        tmp=$(mktemp -d "$cache/.lwip.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        # apt-get source wants to drop privileges to _apt for the download; a private
        # directory is fine, it then downloads as the caller (a warning, not an error).
        if ! (cd "$tmp" && apt-get source -q "lwip=$debver" >"$tmp/log" 2>&1 || apt-get source -q lwip >"$tmp/log" 2>&1); then
            cat "$tmp/log" >&2
            grep -q "deb-src" "$tmp/log" && die "no deb-src entry: add 'deb-src http://deb.debian.org/debian bookworm main' (see scripts/prerequisites.sh) and apt-get update"
            die "apt-get source lwip failed"
        fi
        src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'lwip-*' | head -1)
        [ -n "$src" ] && [ -f "$src/src/core/tcp.c" ] || die "apt-get source lwip gave no lwip-* source tree"
        [ "$(basename "$src")" = "lwip-$version" ] || echo "fetch-lwip.sh: got $(basename "$src"), not lwip-$version" >&2
        rm -rf "$dir"
        mv "$src" "$dir"
    fi
fi
echo "$dir"
