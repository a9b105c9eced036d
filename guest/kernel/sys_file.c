/* Files: the console on fds 0-2, read-only files of the initrd, the disks (/dev/vdX,
 * virtio_blk.c) and the network cards (/dev/netN, raw Ethernet frames, virtio_net.c). Reads of more than a few hundred bytes are copied by a CPL-3 helper straight
 * from the initrd mapping; a disk's device moves the data to and from the program's pages. */
#include "syscalls.h"
#include "cpio.h"
#include "blk.h"
#include "net.h"

#define O_NONBLOCK 04000

#define AT_FDCWD -100
#define AT_EMPTY_PATH 0x1000
#define SMALL_COPY 256
extern char helper_copy[];

static struct open_file *get_fd(struct proc *p, u64 fd)
{
    return fd < MAX_FDS ? p->fds[fd] : NULL;
}

/* Copy n bytes of file data to user buf and return n from the system call. */
static s64 copy_out(struct thread *t, struct frame *f, u64 buf, u64 phys, u64 n)
{
    if (n <= SMALL_COPY) return copy_to_user(t->proc, buf, phys_to_virt(phys), n) < 0 ? -EFAULT : (s64)n;
    t->helper_ret = *f;
    t->helper_ret.rax = n;
    run_helper(t, f, H_SYSRET, tramp_va(helper_copy), buf, initrd_user_va(phys), n, 0);
    return RET_NOTOUCH;
}

static s64 console_out(struct proc *p, u64 buf, u64 n)
{
    if (user_range_ready(p, buf, n, 0) < 0) return -EFAULT;
    console_write((const char *)buf, n); /* the process's page tables are loaded */
    return (s64)n;
}

/* A disk read or write at the file offset, which moves by what the call will move (before the
 * thread sleeps; an error leaves it moved, unlike Linux). */
static s64 disk_rw_at_offset(struct thread *t, struct open_file *o, int write, u64 buf, u64 count)
{
    u64 size = blk_size_bytes(o->blk), moved = o->off < size ? MIN(count, size - o->off) : 0;
    s64 r = blk_rw(t, o->blk, write, buf, count, o->off);
    if (r == RET_BLOCK) o->off += moved;
    else if (r > 0) o->off += (u64)r;
    return r;
}

SYSCALL(write)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (o->blk) return (o->flags & 3) ? disk_rw_at_offset(t, o, 1, A1, A2) : -EBADF;
    if (o->net) return (o->flags & 3) ? net_write(t, o->net, A1, A2) : -EBADF;
    if (o->file) return -EBADF;
    return console_out(t->proc, A1, A2);
}

SYSCALL(pwrite64)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (!o->blk) return o->file ? -EBADF : -ESPIPE;
    if (!(o->flags & 3)) return -EBADF;
    if ((s64)A3 < 0) return -EINVAL;
    return blk_rw(t, o->blk, 1, A1, A2, A3);
}

/* fsync, fdatasync: a disk's FLUSH request; nothing to do for the read-only initrd. */
SYSCALL(fsync)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (o->blk) return blk_flush(t, o->blk);
    return o->file ? 0 : -EINVAL;
}

/* Nothing here has a length to change: EINVAL, as Linux says for a device (busybox dd then
 * carries on) and for a file opened read-only. */
SYSCALL(ftruncate)
{
    (void)f;
    return get_fd(t->proc, A0) ? -EINVAL : -EBADF;
}

SYSCALL(writev)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o || o->file || o->blk || o->net) return -EBADF;
    s64 total = 0;
    for (u64 i = 0; i < A2 && i < 1024; i++) {
        u64 iov[2];
        if (copy_from_user(t->proc, iov, A1 + 16 * i, 16) < 0) return -EFAULT;
        s64 r = console_out(t->proc, iov[0], iov[1]);
        if (r < 0) return total ? total : r;
        total += r;
    }
    return total;
}

static s64 do_read(struct thread *t, struct frame *f, struct open_file *o, u64 buf, u64 count, u64 off)
{
    if (!o->file) return 0; /* console input: end of file */
    if ((o->file->mode & 0170000) == 0040000) return -EISDIR;
    if (off >= o->file->size) return 0;
    u64 n = MIN(count, o->file->size - off);
    return copy_out(t, f, buf, o->file->data_phys + off, n);
}

SYSCALL(read)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (o->blk) return (o->flags & 3) == 1 ? -EBADF : disk_rw_at_offset(t, o, 0, A1, A2);
    if (o->net) return (o->flags & 3) == 1 ? -EBADF : net_read(t, f, o->net, A1, A2, o->flags & O_NONBLOCK);
    s64 r = do_read(t, f, o, A1, A2, o->off);
    if (r == RET_NOTOUCH) o->off += t->helper_ret.rax;
    else if (r > 0) o->off += r;
    return r;
}

SYSCALL(pread64)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (o->blk) {
        if ((o->flags & 3) == 1) return -EBADF;
        return (s64)A3 < 0 ? -EINVAL : blk_rw(t, o->blk, 0, A1, A2, A3);
    }
    if (!o->file || o->net) return -ESPIPE;
    return do_read(t, f, o, A1, A2, A3);
}

SYSCALL(lseek)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (!o->file && !o->blk) return -ESPIPE;
    s64 end = o->blk ? (s64)blk_size_bytes(o->blk) : (s64)o->file->size;
    s64 base = A2 == 0 ? 0 : A2 == 1 ? (s64)o->off : A2 == 2 ? end : -1;
    if (base < 0 || base + (s64)A1 < 0) return -EINVAL;
    o->off = base + (s64)A1;
    return (s64)o->off;
}

static s64 open_path(struct proc *p, s64 dirfd, u64 upath, u64 flags)
{
    char path[256];
    if (strncpy_from_user(p, path, upath, sizeof path) < 0) return -EFAULT;
    (void)dirfd; /* the working directory is always "/" */
    struct blkdev *blk = blk_lookup(path);
    struct netdev *net = blk ? NULL : net_lookup(path);
    const struct cpio_file *file = NULL;
    if (net) {
        if (flags & 0200000) return -ENOTDIR;
        if (net_open(p, net) < 0) return -ENOMEM;
    } else if (blk) { /* O_CREAT and O_TRUNC mean nothing to a device, as on Linux */
        if ((flags & 3) && blk_read_only(blk)) return -30; /* EROFS */
        if (flags & 0200000) return -ENOTDIR;
    } else {
        if (flags & 3) return -30; /* EROFS: the initrd is read-only */
        file = cpio_lookup(path);
        if (!file) return -ENOENT;
        if ((flags & 0200000) && (file->mode & 0170000) != 0040000) return -ENOTDIR;
    }
    for (int fd = 0; fd < MAX_FDS; fd++)
        if (!p->fds[fd]) {
            p->fds[fd] = kzalloc(sizeof(struct open_file));
            p->fds[fd]->file = file;
            p->fds[fd]->blk = blk;
            p->fds[fd]->net = net;
            p->fds[fd]->flags = (int)(flags & (3 | O_NONBLOCK));
            return fd;
        }
    return -EMFILE;
}

SYSCALL(open) { (void)f; return open_path(t->proc, AT_FDCWD, A0, A1); }
SYSCALL(openat) { return open_path(t->proc, (s64)A0, A1, A2); }

SYSCALL(close)
{
    struct proc *p = t->proc;
    if (A0 >= MAX_FDS || !p->fds[A0]) return -EBADF;
    if (p->fds[A0]->shared) p->fds[A0]->shared--;
    else kfree(p->fds[A0], sizeof(struct open_file));
    p->fds[A0] = NULL;
    return 0;
}

/* newfd shares oldfd's open file (and offset); newfd is closed first. */
static s64 dup_to(struct proc *p, u64 oldfd, u64 newfd)
{
    struct open_file *o = get_fd(p, oldfd);
    if (!o || newfd >= MAX_FDS) return -EBADF;
    if (newfd == oldfd) return (s64)newfd;
    struct open_file *old = p->fds[newfd];
    if (old) {
        if (old->shared) old->shared--;
        else kfree(old, sizeof *old);
    }
    o->shared++;
    p->fds[newfd] = o;
    return (s64)newfd;
}

SYSCALL(dup)
{
    (void)f;
    if (!get_fd(t->proc, A0)) return -EBADF;
    for (u64 fd = 0; fd < MAX_FDS; fd++)
        if (!t->proc->fds[fd]) return dup_to(t->proc, A0, fd);
    return -EMFILE;
}

SYSCALL(dup2) { (void)f; return dup_to(t->proc, A0, A1); }
SYSCALL(dup3) { (void)f; return A0 == A1 ? -EINVAL : dup_to(t->proc, A0, A1); }

struct kstat {
    u64 dev, ino, nlink;
    u32 mode, uid, gid, pad0;
    u64 rdev;
    s64 size, blksize, blocks;
    u64 atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns;
    s64 reserved[3];
};

static s64 fill_stat(struct proc *p, const struct cpio_file *file, struct blkdev *blk, struct netdev *net, u64 ubuf)
{
    struct kstat st;
    memset(&st, 0, sizeof st);
    st.nlink = 1;
    st.blksize = 4096;
    if (net) { /* a character device */
        st.dev = 5;
        st.ino = 2000 + (net_rdev(net) & 0xff);
        st.mode = 0020660;
        st.rdev = net_rdev(net);
    } else if (blk) { /* st_size is the disk's size (Linux says 0 there; BLKGETSIZE64 is the sure way) */
        st.dev = 5;
        st.ino = 1000 + (blk_rdev(blk) & 0xff);
        st.mode = 0060660;
        st.rdev = blk_rdev(blk);
        st.size = (s64)blk_size_bytes(blk);
    } else if (file) {
        st.dev = 1;
        st.ino = file->ino;
        st.mode = file->mode;
        st.size = (s64)file->size;
        st.blocks = (s64)(ALIGN_UP(file->size, 512) / 512);
        st.atime = st.mtime = st.ctime = file->mtime;
    } else {
        st.mode = 0020620; /* character device: the console */
        st.rdev = (4 << 8) | 64;
    }
    return copy_to_user(p, ubuf, &st, sizeof st) < 0 ? -EFAULT : 0;
}

SYSCALL(fstat)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    return fill_stat(t->proc, o->file, o->blk, o->net, A1);
}

static s64 stat_path(struct proc *p, u64 upath, u64 ubuf)
{
    char path[256];
    if (strncpy_from_user(p, path, upath, sizeof path) < 0) return -EFAULT;
    struct blkdev *blk = blk_lookup(path);
    if (blk) return fill_stat(p, NULL, blk, NULL, ubuf);
    struct netdev *net = net_lookup(path);
    if (net) return fill_stat(p, NULL, NULL, net, ubuf);
    const struct cpio_file *file = cpio_lookup(path);
    if (!file) return -ENOENT;
    return fill_stat(p, file, NULL, NULL, ubuf);
}

SYSCALL(stat) { (void)f; return stat_path(t->proc, A0, A1); }

SYSCALL(newfstatat)
{
    char c = 0;
    if ((A3 & AT_EMPTY_PATH) && (copy_from_user(t->proc, &c, A1, 1) == 0 && c == 0)) {
        struct open_file *o = get_fd(t->proc, A0);
        if (!o) return -EBADF;
        return fill_stat(t->proc, o->file, o->blk, o->net, A2);
    }
    return stat_path(t->proc, A1, A2);
}

SYSCALL(access)
{
    char path[256];
    (void)f;
    if (strncpy_from_user(t->proc, path, A0, sizeof path) < 0) return -EFAULT;
    return cpio_lookup(path) || blk_lookup(path) || net_lookup(path) ? 0 : -ENOENT;
}

SYSCALL(faccessat)
{
    char path[256];
    if (strncpy_from_user(t->proc, path, A1, sizeof path) < 0) return -EFAULT;
    return cpio_lookup(path) || blk_lookup(path) || net_lookup(path) ? 0 : -ENOENT;
}

static s64 do_readlink(struct proc *p, u64 upath, u64 buf, u64 size)
{
    char path[256];
    if (strncpy_from_user(p, path, upath, sizeof path) < 0) return -EFAULT;
    if (!strncmp(path, "/proc/", 6)) return -ENOENT; /* glibc asks for /proc/self/exe: no /proc */
    const struct cpio_file *file = cpio_lookup(path);
    if (!file) return -ENOENT;
    if ((file->mode & 0170000) != 0120000) return -EINVAL;
    u64 n = MIN(size, file->size);
    return copy_to_user(p, buf, phys_to_virt(file->data_phys), n) < 0 ? -EFAULT : (s64)n;
}

SYSCALL(readlink) { (void)f; return do_readlink(t->proc, A0, A1, A2); }
SYSCALL(readlinkat) { return do_readlink(t->proc, A1, A2, A3); }

#define BLKROGET 0x125e
#define BLKGETSIZE 0x1260
#define BLKSSZGET 0x1268
#define BLKPBSZGET 0x127b
#define BLKGETSIZE64 0x80081272

SYSCALL(ioctl)
{
    (void)f;
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (o->net) return net_ioctl(t, o->net, A1, A2);
    if (!o->blk) return -ENOTTY;
    u64 v64 = blk_size_bytes(o->blk);
    u32 v32 = 512;
    switch (A1) {
    case BLKGETSIZE64: break;
    case BLKGETSIZE: v64 /= 512; break; /* unsigned long, in sectors */
    case BLKROGET: v32 = (u32)blk_read_only(o->blk); /* fall through */
    case BLKSSZGET:
    case BLKPBSZGET: return copy_to_user(t->proc, A2, &v32, 4) < 0 ? -EFAULT : 0;
    default: return -ENOTTY;
    }
    return copy_to_user(t->proc, A2, &v64, 8) < 0 ? -EFAULT : 0;
}

SYSCALL(fcntl)
{
    struct open_file *o = get_fd(t->proc, A0);
    if (!o) return -EBADF;
    if (A1 == 3) return o->file ? 0 : o->blk || o->net ? o->flags : 2; /* F_GETFL */
    if (A1 == 4) o->flags = (o->flags & 3) | (int)(A2 & O_NONBLOCK); /* F_SETFL */
    return 0;
}

SYSCALL(getcwd)
{
    (void)f;
    if (A1 < 2) return -ERANGE;
    return copy_to_user(t->proc, A0, "/", 2) < 0 ? -EFAULT : 2;
}
