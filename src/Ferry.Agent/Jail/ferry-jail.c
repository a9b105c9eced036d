/*
 * ferry-jail: starts a VMM for ferryd, detached from it, and (in its main use) builds the jail the
 * VMM runs in and becomes the VMM (same pid), in one process. ferryd runs it for each VMM it starts
 * (Vms/VmmLauncher.cs and Jail/VmmJail.cs build the arguments):
 *
 *   ferry-jail PIDFILE LOG ROOT UID GID TUN NCGROUPS CGROUP.TASKS...  NBINDS (SOURCE TARGET MODE)...  COMMAND...
 *   ferry-jail PIDFILE LOG --no-jail COMMAND...
 *
 * PIDFILE  the VMM's pid is written here (replaced whole) before this first process exits; the VMM
 *          itself is a child in a session of its own (setsid), so it outlives ferryd and is not its
 *          child, with stdin from /dev/null and stdout and stderr appended to LOG
 * ROOT     an empty directory to mount the jail's tmpfs on (seen only in the new mount namespace)
 * TUN      1: a /dev/net/tun node (the VM has network cards), 0: none
 * CGROUP.TASKS  each cgroup's tasks file: the VMM joins them before anything else
 * MODE     ro: read-only as it is; own: chowned to UID:GID, read-write; own-ro: chowned,
 *          read-only; share, share-ro: an ACL entry for UID (setfacl), the owner left as it is;
 *          sys: read-only at the source's real path (symlinks resolved), once
 * COMMAND  runs as UID:GID with no capabilities (none permitted, inheritable, ambient or in the
 *          bounding set), no supplementary groups and no_new_privs, with ROOT as / (pivot_root:
 *          the host's root is unmounted, not merely out of reach).
 * --no-jail  a host set up with ferryd init --no-jail: COMMAND runs as it is, only detached.
 *
 * The namespace must be made by a single-threaded process (unshare(CLONE_NEWNS) fails in a
 * multi-threaded one such as the .NET runtime), which is why this is a small C program and not
 * part of ferryd; it replaced a shell script whose forty-odd short processes cost ~85 ms a start.
 * Detaching here too spares ferryd the setsid and /bin/sh that did it before (~2-5 ms a start).
 * A failure before the VMM is detached prints one line "ferry-jail: ..." on stderr and exits 1
 * (ferryd reports it); one after, in building the jail, prints that line to LOG and exits 1, before
 * the VMM starts, which ferryd reports as the VMM's start failing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

static void die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("ferry-jail: ", stderr);
    vfprintf(stderr, format, args);
    if (errno) fprintf(stderr, ": %s", strerror(errno));
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

static long number(const char *text, const char *what)
{
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || *end || n < 0) { errno = 0; die("%s: '%s' is not a number", what, text); }
    return n;
}

/* mkdir -p of PATH (relative to the jail's root, the working directory). */
static void make_dirs(const char *path)
{
    char buffer[PATH_MAX];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer) { errno = 0; die("path too long: %s", path); }
    for (char *p = buffer + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buffer, 0755) && errno != EEXIST) die("mkdir %s", buffer);
        *p = '/';
    }
    if (mkdir(buffer, 0755) && errno != EEXIST) die("mkdir %s", buffer);
}

static void node(const char *path, mode_t mode, dev_t device, uid_t uid, gid_t gid)
{
    if (mknod(path, S_IFCHR | mode, device)) die("mknod %s", path);
    if (chmod(path, mode)) die("chmod %s", path); /* mknod's mode is cut by the umask */
    if (uid != 0 && chown(path, uid, gid)) die("chown %s", path);
}

/* setfacl -m u:UID:PERMS SOURCE, waited for. */
static void share(const char *source, uid_t uid, const char *perms)
{
    char entry[64];
    snprintf(entry, sizeof entry, "u:%u:%s", (unsigned)uid, perms);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        execlp("setfacl", "setfacl", "-m", entry, source, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) < 0) die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { errno = 0; die("setfacl -m %s %s failed", entry, source); }
}

static void bind(const char *source, const char *target_path, const char *mode, uid_t uid, gid_t gid)
{
    char resolved[PATH_MAX], target[PATH_MAX + 1];
    int sys = strcmp(mode, "sys") == 0;
    if (sys) {
        if (!realpath(source, resolved)) die("%s", source);
        source = resolved;
        target_path = resolved;
    }
    snprintf(target, sizeof target, ".%s", target_path);
    struct stat st;
    if (sys && lstat(target, &st) == 0) return; /* bound already through another path */
    if (stat(source, &st)) die("%s", source);

    int readonly = 0;
    if (!strcmp(mode, "own") || !strcmp(mode, "own-ro")) {
        if (chown(source, uid, gid)) die("chown %s", source);
        readonly = !strcmp(mode, "own-ro");
    } else if (!strcmp(mode, "share") || !strcmp(mode, "share-ro")) {
        readonly = !strcmp(mode, "share-ro");
        share(source, uid, readonly ? "r" : "rw");
    } else if (!strcmp(mode, "ro") || sys) {
        readonly = 1;
    } else {
        errno = 0;
        die("unknown bind mode %s", mode);
    }

    if (S_ISDIR(st.st_mode)) make_dirs(target);
    else {
        char *slash = strrchr(target, '/');
        if (slash && slash != target + 1) { *slash = 0; make_dirs(target); *slash = '/'; }
        int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) die("create %s", target);
        close(fd);
    }
    if (mount(source, target, NULL, MS_BIND, NULL)) die("bind %s", source);
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);
    if (mount(NULL, target, NULL, flags, NULL)) die("remount %s", target);
}

static void drop_privileges(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL)) die("setgroups");
    if (setresgid(gid, gid, gid)) die("setresgid");
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) die("dropping capability %d from the bounding set", cap);
    errno = 0;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) die("clearing ambient capabilities");
    if (setresuid(uid, uid, uid)) die("setresuid"); /* clears the permitted and effective sets */
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data)) die("capset"); /* and the inheritable one */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs");
}

/* Forks the VMM-to-be into a session of its own with stdin from /dev/null and stdout and stderr
   appended to LOG; this first process writes the child's pid to PIDFILE and exits. Returns in the child. */
static void detach(const char *pid_file, const char *log)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) die("/dev/null");
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out < 0) die("%s", log);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child > 0) {
        /* Replaced whole, so nobody reads half a pid. */
        char temporary[PATH_MAX], pid[32];
        if (snprintf(temporary, sizeof temporary, "%s.tmp", pid_file) >= (int)sizeof temporary) { errno = 0; die("path too long: %s", pid_file); }
        int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) die("%s", temporary);
        int n = snprintf(pid, sizeof pid, "%d\n", (int)child);
        if (write(fd, pid, (size_t)n) != n || close(fd)) die("%s", temporary);
        if (rename(temporary, pid_file)) die("%s", pid_file);
        exit(0);
    }
    /* The parent exits at once: no failure of the child's below can reach ferryd but through LOG. */
    if (setsid() < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) die("detaching");
    close(null);
    close(out);
}

int main(int argc, char **argv)
{
    int i = 1;
    if (argc < 5) { errno = 0; die("usage: ferry-jail PIDFILE LOG (--no-jail | ROOT UID GID TUN NCGROUPS TASKS... NBINDS (SOURCE TARGET MODE)...) COMMAND..."); }
    const char *pid_file = argv[i++], *log = argv[i++];
    if (!strcmp(argv[i], "--no-jail")) {
        i++;
        detach(pid_file, log);
        execvp(argv[i], &argv[i]);
        die("exec %s", argv[i]);
    }
    if (argc < 10) { errno = 0; die("usage: ferry-jail PIDFILE LOG ROOT UID GID TUN NCGROUPS TASKS... NBINDS (SOURCE TARGET MODE)... COMMAND..."); }
    const char *root = argv[i++];
    uid_t uid = (uid_t)number(argv[i++], "UID");
    gid_t gid = (gid_t)number(argv[i++], "GID");
    int tun = (int)number(argv[i++], "TUN");
    if (uid == 0 || gid == 0) { errno = 0; die("a jail's user is never root"); }
    detach(pid_file, log);

    /* This process has one thread, so moving that thread moves the process; and a thread that
       moves itself ("0" to tasks) spares the kernel the lock a move through cgroup.procs takes,
       whose first taking after a quiet spell waits for an RCU grace period (~5-25 ms here). */
    long groups = number(argv[i++], "NCGROUPS");
    for (long g = 0; g < groups && i < argc; g++, i++) {
        int fd = open(argv[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0) die("%s", argv[i]);
        if (write(fd, "0\n", 2) != 2) die("joining %s", argv[i]);
        close(fd);
    }

    if (unshare(CLONE_NEWNS)) die("unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("making the mounts private");
    if (mount("ferry-jail", root, "tmpfs", MS_NOSUID, "mode=0755,size=1m")) die("mount tmpfs on %s", root);
    if (chdir(root)) die("%s", root);
    umask(022);
    make_dirs("dev");
    make_dirs("proc");
    make_dirs(".old");

    /* Nodes of its own, owned by the jail's user, for the host's /dev/kvm and (Linux 6.1+, for
       post-copy: KVM's faults need it or privileges) /dev/userfaultfd: the host's stay root's. */
    static const char *const owned[] = { "kvm", "userfaultfd" };
    for (size_t k = 0; k < sizeof owned / sizeof *owned; k++) {
        char host[64], jail[64];
        snprintf(host, sizeof host, "/dev/%s", owned[k]);
        snprintf(jail, sizeof jail, "dev/%s", owned[k]);
        struct stat st;
        if (stat(host, &st) == 0 && S_ISCHR(st.st_mode)) node(jail, 0600, st.st_rdev, uid, gid);
    }
    node("dev/urandom", 0444, makedev(1, 9), 0, 0); /* the runtime's random numbers (handshake nonces) */
    node("dev/null", 0666, makedev(1, 3), 0, 0);
    /* The VM's network cards: it attaches only to taps given to its uid and cannot create one. */
    struct stat tun_host;
    if (tun && stat("/dev/net/tun", &tun_host) == 0) {
        make_dirs("dev/net");
        node("dev/net/tun", 0666, tun_host.st_rdev, 0, 0);
    }

    if (i >= argc) { errno = 0; die("no NBINDS"); }
    long binds = number(argv[i++], "NBINDS");
    for (long b = 0; b < binds; b++, i += 3) {
        if (i + 2 >= argc) { errno = 0; die("bind %ld is incomplete", b); }
        bind(argv[i], argv[i + 1], argv[i + 2], uid, gid);
    }
    if (i >= argc) { errno = 0; die("no command"); }

    /* Merged /usr: /lib and /lib64 are links into the /usr bound above. */
    static const char *const links[] = { "/lib", "/lib64" };
    for (size_t k = 0; k < 2; k++) {
        char to[PATH_MAX];
        ssize_t n = readlink(links[k], to, sizeof to - 1);
        if (n <= 0) continue;
        to[n] = 0;
        if (symlink(to, links[k] + 1) && errno != EEXIST) die("symlink %s", links[k]);
    }

    /* A /proc of its own that shows the VMM only its own processes: ferry reads /proc/self. */
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")) die("mount proc");
    if (mount(NULL, ".", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL)) die("remounting the jail's root read-only");
    if (syscall(SYS_pivot_root, ".", ".old")) die("pivot_root");
    if (chdir("/")) die("chdir /");
    if (umount2("/.old", MNT_DETACH)) die("unmounting the host's root");

    drop_privileges(uid, gid);
    execv(argv[i], &argv[i]);
    die("exec %s", argv[i]);
}
