# The jail a VMM runs in, built by /bin/sh inside the VMM's own mount namespace (ferryd runs it
# as `unshare --mount --propagation private /bin/sh -c THIS jail ARGS...`, as root, in the process
# that then becomes the VMM: the pid never changes). Nothing it mounts is seen outside; the
# namespace and every mount in it go when the VMM ends.
#
#   ROOT UID GID  NCGROUPS CGROUP.PROCS...  NBINDS (SOURCE TARGET MODE)...  COMMAND...
#
# ROOT    an empty directory to mount the jail's tmpfs on (only in this namespace)
# CGROUP.PROCS  each cgroup's cgroup.procs: the VMM joins them before it starts
# MODE    ro: read-only as it is; own: chowned to UID:GID, read-write; own-ro: chowned, read-only;
#         sys: read-only at the source's real path (symlinks resolved), once
# COMMAND runs as UID:GID with no capabilities, no supplementary groups and no_new_privs, with
#         ROOT as / (pivot_root; the host's root is unmounted, not merely out of reach).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
root=$1 uid=$2 gid=$3 n=$4
shift 4
while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n - 1)); done

mount -n -t tmpfs -o mode=0755,size=1m,nosuid ferry-jail "$root"
cd "$root"
mkdir dev proc .old
# Its own /dev/kvm node, owned by the jail's user: the host's stays root's alone.
mknod -m 0600 dev/kvm c 10 232
chown "$uid:$gid" dev/kvm

n=$1
shift
while [ "$n" -gt 0 ]; do
    source=$1 target=$2 mode=$3
    shift 3
    n=$((n - 1))
    if [ "$mode" = sys ]; then
        source=$(readlink -f "$source") target=$source
        [ -e ".$target" ] && continue
    fi
    case $mode in own|own-ro) chown "$uid:$gid" "$source" ;; esac
    if [ -d "$source" ]; then mkdir -p ".$target"; else mkdir -p ".${target%/*}"; : > ".$target"; fi
    mount -n --bind "$source" ".$target"
    case $mode in ro|own-ro|sys) mount -n -o remount,bind,ro,nosuid,nodev ".$target" ;; esac
done
# Merged /usr: /lib and /lib64 are links into the /usr bound above.
for link in /lib /lib64; do
    if [ -L "$link" ]; then ln -s "$(readlink "$link")" ".$link"; fi
done

# A /proc of its own that shows the VMM only its own processes (hidepid): ferry reads
# /proc/self and /proc/meminfo. umount needs it too, just below.
umount=$(command -v umount)
mount -n -t proc -o nosuid,nodev,noexec,hidepid=invisible proc proc
mount -n -o remount,ro,nosuid tmpfs .
pivot_root . .old
cd /
"/.old$umount" -n -l /.old
exec /setpriv --reuid "$uid" --regid "$gid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
