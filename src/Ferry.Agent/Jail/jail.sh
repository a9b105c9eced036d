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
#         share, share-ro: an ACL entry for UID (read-write, read-only), the owner left as it is;
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
# Nodes of its own, owned by the jail's user, for the host's /dev/kvm and (Linux 6.1+, for
# post-copy: KVM's faults need it or privileges) /dev/userfaultfd: the host's stay root's alone.
# /dev/urandom for the runtime's random numbers (the migration handshake's nonces); /dev/null.
for node in kvm userfaultfd; do
    if [ -c "/dev/$node" ]; then
        mknod -m 0600 "dev/$node" c $(stat -c '0x%t 0x%T' "/dev/$node")
        chown "$uid:$gid" "dev/$node"
    fi
done
mknod -m 0444 dev/urandom c 1 9
mknod -m 0666 dev/null c 1 3
# /dev/net/tun for the VM's network cards: it attaches only to taps given to its uid (ferryd's
# HostTaps), and cannot create one (no CAP_NET_ADMIN).
if [ -c /dev/net/tun ]; then
    mkdir dev/net
    mknod -m 0666 dev/net/tun c 10 200
fi

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
    case $mode in
        own|own-ro) chown "$uid:$gid" "$source" ;;
        # An entry for this uid beside the owner's: a shared image stays open to the other VMM of
        # the same VM (a migration's source re-opens it if the move fails after it let go).
        share) setfacl -m "u:$uid:rw" "$source" ;;
        share-ro) setfacl -m "u:$uid:r" "$source" ;;
    esac
    if [ -d "$source" ]; then mkdir -p ".$target"; else mkdir -p ".${target%/*}"; : > ".$target"; fi
    # util-linux makes a read-only bind in one call (it remounts it itself).
    case $mode in
        ro|own-ro|share-ro|sys) mount -n --bind -o ro,nosuid,nodev "$source" ".$target" ;;
        *) mount -n --bind -o nosuid,nodev "$source" ".$target" ;;
    esac
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
