# Sourced by ./ferry for `./ferry install|uninstall [--prefix DIR]` (after scripts/prerequisites.sh).
# install: every program of ferry_programs (with the native libraries published beside it, which
# it loads from its own directory) into PREFIX/lib/ferry, a link PREFIX/bin/NAME to each, and a
# list of all it created in PREFIX/lib/ferry/.installed. uninstall removes exactly what that list
# names: files and links, then the directories install created, if they are empty.

ferry_install_command() {
    local action=$1 prefix=/usr/local
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix) [ $# -ge 2 ] || { echo "ferry: $action: --prefix needs a directory" >&2; return 2; }; prefix=$2; shift 2 ;;
            --prefix=*) prefix=${1#--prefix=}; shift ;;
            -h|--help) echo "usage: ./ferry $action [--prefix DIR]   (default /usr/local: DIR/bin/ferry, DIR/lib/ferry/)"; return 0 ;;
            *) echo "ferry: $action: unknown argument $1 (usage: ./ferry $action [--prefix DIR])" >&2; return 2 ;;
        esac
    done
    [ -n "$prefix" ] || { echo "ferry: $action: --prefix is empty" >&2; return 2; }
    [[ "$prefix" = /* ]] || prefix="$PWD/$prefix"
    prefix=${prefix%/}
    if [ -e "$prefix" ] && [ ! -d "$prefix" ]; then
        echo "ferry: cannot $action in $prefix: it is not a directory" >&2; return 2
    fi
    "ferry_$action" "$prefix"
}

# The nearest directory that exists on the way up from $1.
existing_ancestor() {
    local d=$1
    while [ ! -e "$d" ]; do d=${d%/*}; [ -n "$d" ] || d=/; done
    echo "$d"
}

ferry_install() {
    local prefix=$1 lib="$1/lib/ferry" bindir="$1/bin" d entry name
    for d in "$lib" "$bindir"; do
        local at; at=$(existing_ancestor "$d")
        if [ ! -d "$at" ] || [ ! -w "$at" ]; then
            echo "ferry: cannot install into $prefix: $at is not writable (run as root, or choose another --prefix, e.g. --prefix ~/.local)" >&2
            return 1
        fi
    done
    for entry in "${ferry_programs[@]}"; do
        name=${entry%%:*}
        if [ -e "$bindir/$name" ] || [ -L "$bindir/$name" ]; then
            if [ "$(readlink "$bindir/$name")" != "$lib/$name" ]; then
                echo "ferry: cannot install into $prefix: $bindir/$name exists and is not a link this install made (remove it or choose another --prefix)" >&2
                return 1
            fi
        fi
    done
    # Build everything first: a failed build leaves the prefix as it was.
    local built=() binary
    for entry in "${ferry_programs[@]}"; do
        binary=$(publish_program "${entry%%:*}" "${entry#*:}") || return 1
        built+=("$binary")
    done
    if [ -e "$lib/.installed" ]; then ferry_uninstall "$prefix" quiet || return 1; fi

    # The list is written as things are made, so a failure half-way leaves a list uninstall can use.
    local created=() up file
    for d in "$lib" "$bindir"; do # lib first: the list lives there
        up=$d
        while [ ! -e "$up" ]; do created=("$up" "${created[@]}"); up=${up%/*}; done
    done
    mkdir -p "$lib" "$bindir" 2>/dev/null || { echo "ferry: cannot install into $prefix: cannot create $lib and $bindir" >&2; return 1; }
    # Directories outermost first, so uninstall removes them innermost first.
    printf 'dir %s\n' "${created[@]}" | sort -u >"$lib/.installed"
    for binary in "${built[@]}"; do
        name=${binary##*/}
        # The native libraries it loads from its own directory, and ferryd's jail builder.
        for file in "$binary" "${binary%/*}"/*.so "${binary%/*}"/ferry-jail; do
            [ -e "$file" ] || continue
            if [ -e "$lib/${file##*/}" ]; then continue; fi # a library two programs share, already copied
            cp "$file" "$lib/" || { echo "ferry: cannot copy $file into $lib" >&2; return 1; }
            echo "file $lib/${file##*/}" >>"$lib/.installed"
        done
        ln -s "$lib/$name" "$bindir/$name" || { echo "ferry: cannot link $bindir/$name" >&2; return 1; }
        echo "link $bindir/$name" >>"$lib/.installed"
    done
    for entry in "${ferry_programs[@]}"; do echo "ferry: installed $bindir/${entry%%:*} -> $lib/${entry%%:*}" >&2; done
    case ":$PATH:" in *":$bindir:"*) ;; *) echo "ferry: note: $bindir is not on your PATH" >&2 ;; esac
    return 0
}

ferry_uninstall() {
    local prefix=$1 quiet=${2:-} lib="$1/lib/ferry" lines=() i kind path
    if [ ! -f "$lib/.installed" ]; then
        echo "ferry: nothing to uninstall in $prefix: no $lib/.installed (was ferry installed with another --prefix?)" >&2
        return 1
    fi
    mapfile -t lines <"$lib/.installed"
    # Files and links first, then directories innermost first (the list has them outermost first).
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        kind=${lines[i]%% *} path=${lines[i]#* }
        case "$kind" in
            file) rm -f "$path" ;;
            link) if [ "$(readlink "$path")" = "$lib/${path##*/}" ]; then rm -f "$path"; fi ;;
        esac
    done
    rm -f "$lib/.installed"
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        kind=${lines[i]%% *} path=${lines[i]#* }
        if [ "$kind" = dir ]; then rmdir "$path" 2>/dev/null || true; fi
    done
    if [ -z "$quiet" ]; then echo "ferry: uninstalled ferry from $prefix" >&2; fi
}
