/*
 * blkbench - disk throughput and per-request latency, one request at a time (queue depth 1),
 * for comparing virtio-blk devices (Ferry's and QEMU's) on the same image.
 *
 * usage: blkbench [--dev PATH] [--tests LIST] [--seconds S] [--mb N] [--syscall-ms MS]
 *   -d, --dev PATH        the disk (/dev/vdX in the guest; a regular file works natively) (/dev/vda)
 *   -t, --tests LIST      comma list of MODE:SIZE, run in order; MODE is seqread, seqwrite,
 *                         randread or randwrite; SIZE in bytes with an optional K or M suffix,
 *                         a multiple of 512 up to 1M (default
 *                         seqread:1M,seqwrite:1M,seqread:64K,seqwrite:64K,seqread:4K,seqwrite:4K,randread:4K,randwrite:4K)
 *   -s, --seconds S       time spent on each test (default 3; each test also ends after a whole
 *                         pass over the region for sequential tests, wrapping otherwise)
 *   -m, --mb N            the region used, from offset 0: N MiB (default: the whole device)
 *   -c, --syscall-ms MS   first spend MS ms timing the raw getpid system call, the floor under
 *                         every request (default 200; 0 = skip)
 *
 * Each request is one pread/pwrite of SIZE bytes from one buffer of the program's (touched
 * before timing); sequential tests walk the region in order, wrapping; random ones pick an
 * aligned offset uniformly (xorshift, fixed seed, so both VMMs see the same offsets). A write
 * test ends with one fsync, timed apart. Latency is the time around each call, read with the
 * vDSO clock (no system call of its own).
 *
 * Output, one line per test and one for the system call (values: integers, or one to three
 * decimals):
 *   blkbench syscall getpid_us=X
 *   blkbench result test=MODE bs=BYTES ops=N seconds=S iops=I mib_s=M lat_us_p50=A lat_us_p99=B lat_us_max=C fsync_ms=F
 *   blkbench done tests=K
 * fsync_ms is 0 for read tests. Exit status 0; 1 on an I/O error (with a message).
 */
#include "workload.h"
#include <fcntl.h>
#include <getopt.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define MAX_BS (1u << 20)
#define MAX_SAMPLES (1u << 20)
#define BLKGETSIZE64_ _IOR(0x12, 114, size_t)

static uint64_t device_size(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat %s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode) || st.st_size > 0)
        return (uint64_t)st.st_size;
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64_, &size) != 0)
        die("BLKGETSIZE64 %s: %s", path, strerror(errno));
    return size;
}

/* Bit 0: write; bit 1: random. */
static const char *const mode_name[4] = { "seqread", "seqwrite", "randread", "randwrite" };

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t parse_size(const char *s)
{
    char num[32];
    size_t n = strlen(s);
    uint64_t mult = 1;
    if (n == 0 || n >= sizeof num)
        usage_error("bad size '%s'", s);
    memcpy(num, s, n + 1);
    if (num[n - 1] == 'K' || num[n - 1] == 'k')
        mult = 1024, num[n - 1] = 0;
    else if (num[n - 1] == 'M' || num[n - 1] == 'm')
        mult = 1024 * 1024, num[n - 1] = 0;
    uint64_t v = parse_u64("size", num, MAX_BS) * mult;
    if (v == 0 || v % 512 || v > MAX_BS)
        usage_error("a size must be a multiple of 512 from 512 to 1M, not '%s'", s);
    return v;
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    const char *dev = "/dev/vda";
    const char *tests = "seqread:1M,seqwrite:1M,seqread:64K,seqwrite:64K,seqread:4K,seqwrite:4K,randread:4K,randwrite:4K";
    uint64_t seconds = 3, mb = 0, syscall_ms = 200;
    static const struct option options[] = {
        { "dev", required_argument, NULL, 'd' },
        { "tests", required_argument, NULL, 't' },
        { "seconds", required_argument, NULL, 's' },
        { "mb", required_argument, NULL, 'm' },
        { "syscall-ms", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "d:t:s:m:c:", options, NULL)) != -1) {
        switch (c) {
        case 'd': dev = optarg; break;
        case 't': tests = optarg; break;
        case 's': seconds = parse_u64("--seconds", optarg, 3600); break;
        case 'm': mb = parse_u64("--mb", optarg, 1u << 30); break;
        case 'c': syscall_ms = parse_u64("--syscall-ms", optarg, 60000); break;
        default: usage_error("unknown option");
        }
    }
    if (optind != argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (seconds == 0)
        usage_error("--seconds must be at least 1");

    /* The test list, checked before anything is timed. */
    struct { int mode; uint64_t bs; } list[32];
    int nlist = 0;
    char copy[512];
    if (strlen(tests) >= sizeof copy)
        usage_error("--tests is too long");
    strcpy(copy, tests);
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        if (!colon)
            usage_error("a test is MODE:SIZE, not '%s'", item);
        if (nlist == 32)
            usage_error("at most 32 tests");
        *colon = 0;
        int mode = -1;
        for (int m = 0; m < 4; m++)
            if (!strcmp(item, mode_name[m]))
                mode = m;
        if (mode < 0)
            usage_error("unknown test mode '%s'", item);
        list[nlist].mode = mode;
        list[nlist++].bs = parse_size(colon + 1);
    }

    int fd = open(dev, O_RDWR);
    if (fd < 0)
        die("cannot open %s: %s", dev, strerror(errno));
    uint64_t size = device_size(fd, dev);
    uint64_t region = mb ? mb << 20 : size;
    if (region > size)
        die("--mb %" PRIu64 " is larger than %s (%" PRIu64 " bytes)", mb, dev, size);

    /* Buffer and latency samples: allocated and touched once, before any timing. */
    unsigned char *buf = mmap(NULL, MAX_BS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *lat = mmap(NULL, MAX_SAMPLES * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED || lat == MAP_FAILED)
        die("mmap failed: %s", strerror(errno));
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (uint64_t i = 0; i < MAX_BS / 8; i++)
        ((uint64_t *)buf)[i] = rand64(&seed) | 1;
    for (uint64_t i = 0; i < MAX_SAMPLES; i += PAGE_SIZE / sizeof(uint32_t))
        lat[i] = 0;

    if (syscall_ms) {
        uint64_t calls = 0, start = now_ns(), t;
        do {
            for (int i = 0; i < 16; i++)
                if (syscall(SYS_getpid) <= 0)
                    die("getpid failed: %s", strerror(errno));
            calls += 16;
            t = now_ns();
        } while (t - start < syscall_ms * 1000000ull);
        put_line("blkbench syscall getpid_us=%.2f", (double)(t - start) / calls / 1000.0);
    }

    int ntests = 0;
    for (int i = 0; i < nlist; i++) {
        const char *item = mode_name[list[i].mode];
        int write_test = list[i].mode & 1, random = list[i].mode >> 1;
        uint64_t bs = list[i].bs;
        uint64_t slots = region / bs;
        if (slots == 0)
            die("the region (%" PRIu64 " bytes) is smaller than one %" PRIu64 "-byte request", region, bs);

        uint64_t rng = 0x2545f4914f6cdd1dull + bs, ops = 0, pos = 0;
        uint64_t start = now_ns(), deadline = start + seconds * NSEC_PER_SEC, t = start;
        while (t < deadline && (random || ops < slots)) {
            uint64_t slot = random ? below((uint32_t)(rand64(&rng) >> 32), slots) : pos;
            pos = pos + 1 == slots ? 0 : pos + 1;
            off_t off = (off_t)(slot * bs);
            if (write_test)
                ((uint64_t *)buf)[0] = ops + 1;   /* every write differs */
            uint64_t t0 = now_ns();
            ssize_t n = write_test ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);
            t = now_ns();
            if (n != (ssize_t)bs)
                die("%s of %" PRIu64 " bytes at %" PRIu64 " returned %zd: %s", write_test ? "pwrite" : "pread",
                    bs, (uint64_t)off, n, n < 0 ? strerror(errno) : "short");
            uint64_t d = t - t0;
            if (ops < MAX_SAMPLES)
                lat[ops] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
            ops++;
        }
        double secs = (double)(t - start) / NSEC_PER_SEC;
        double fsync_ms = 0;
        if (write_test) {
            uint64_t f0 = now_ns();
            if (fsync(fd) != 0)
                die("fsync %s: %s", dev, strerror(errno));
            fsync_ms = (double)(now_ns() - f0) / 1e6;
        }
        uint64_t kept = ops < MAX_SAMPLES ? ops : MAX_SAMPLES;
        qsort(lat, kept, sizeof lat[0], cmp_u32);
        double p50 = kept ? lat[kept / 2] / 1000.0 : 0, p99 = kept ? lat[kept * 99 / 100] / 1000.0 : 0;
        double mx = kept ? lat[kept - 1] / 1000.0 : 0;
        put_line("blkbench result test=%s bs=%" PRIu64 " ops=%" PRIu64 " seconds=%.3f iops=%.1f mib_s=%.3f "
                 "lat_us_p50=%.1f lat_us_p99=%.1f lat_us_max=%.1f fsync_ms=%.3f",
                 item, bs, ops, secs, ops / secs, ops * bs / secs / 1048576.0, p50, p99, mx, fsync_ms);
        ntests++;
    }
    put_line("blkbench done tests=%d", ntests);
    close(fd);
    return 0;
}
