/*
 * blkverify - write checkable, sequence-numbered blocks to a disk and keep checking them.
 *
 * usage: blkverify [--dev PATH] [--rate N] [--blocks N] [--sync N] [--hb-ms MS]
 *                  [--seconds S] [--verify-only]
 *   -d, --dev PATH      the block device (default /dev/vda); a regular file works too
 *   -r, --rate N        data blocks written per second (default 200; 0 = as fast as it can)
 *   -b, --blocks N      data blocks used, after the header block (default: the whole device)
 *   -y, --sync N        fsync, then record the progress in the header block, every N blocks
 *                       (default 64; at most half the data blocks)
 *   -H, --hb-ms MS      heartbeat period, 1 to 60000 ms (default 100)
 *   -s, --seconds S     stop after S seconds: sync, verify every block, exit (default 0 = never)
 *   -V, --verify-only   write nothing: read the header and every data block, check each, exit
 *
 * Layout, in 4 KiB blocks: block 0 is the header, blocks 1..N hold data. Writes go round the
 * data blocks in order, one pwrite of 4 KiB each: write number s (s = 1, 2, 3, ...) goes to
 * block (s - 1) % N + 1 in generation (s - 1) / N + 1. So the latest write of every block up
 * to any s is known, and no per-block state needs keeping. A data block holds, as 64-bit
 * words: magic "FERRYBLK", block number, generation, sequence number s, a checksum of every
 * other word, then 507 payload words mix64(s << 9 | w), which differ for every write. The
 * header holds magic "FERRYBVH", N, the generation and the sequence number of the last write
 * made durable (fsync, then the header written, then fsync again: "acknowledged"), a checksum
 * and --sync (the writer makes at most that many writes past the acknowledged one).
 *
 * While writing, after every sync it re-reads the blocks just synced and the next stretch of
 * a rolling pass over the whole device. A block read back is
 *   corrupt  bad magic, block number, checksum or payload (a torn, misdirected or damaged write)
 *   lost     it holds a write older than the last one acknowledged by fsync for that block
 *            (or zeros where an acknowledged write should be)
 *   stale    it holds a write older than the last completed one, which was not yet fsynced
 *   future   it holds a write newer than any made (or, with --verify-only, than one write
 *            past the acknowledged one: only the writes after the last sync may be missing
 *            from the header)
 * A writer started on a device with a valid header for the same N carries on after its
 * acknowledged write; otherwise it starts at write 1 and the data blocks must be zero.
 *
 * Output (stdout, one write() per line):
 *   blkverify ready dev=PATH blocks=N rate=R sync=K start-seq=S
 *   HB <seq> <CLOCK_MONOTONIC ns> <blocks written>          every MS ms after ready (memtouch's format)
 *   blkverify OK written=W acked=A verified=V bad=0 gen=G   at least once a second
 *   blkverify FAIL written=W acked=A verified=V bad=B gen=G the same, once any block was bad
 *   blkverify BAD block=B kind=KIND expected-seq=E found-seq=F [detail]   at most 20 lines
 *   blkverify done written=W acked=A verified=V bad=B       when --seconds ends the run
 * --verify-only:
 *   blkverify verified dev=PATH blocks=N acked=A gen=G written=K zero=Z bad=B
 *   (K blocks hold good data, Z are zero, whether rightly or lost; BAD lines come before it)
 * Exit status: 0 if no block was ever bad, 1 otherwise (or on an I/O error, with a message).
 */
#include "workload.h"
#include <fcntl.h>
#include <getopt.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define BLOCK 4096u
#define WORDS (BLOCK / 8)
#define BLOCK_MAGIC 0x4b4c425952524546ull   /* "FERRYBLK" little-endian */
#define HEADER_MAGIC 0x4856425952524546ull  /* "FERRYBVH" */
#define W_MAGIC 0
#define W_BLOCK 1
#define W_GEN 2
#define W_SEQ 3
#define W_SUM 4
#define W_PAYLOAD 5
#define READ_BLOCKS 16                       /* 64 KiB per read while verifying */
#define MAX_BAD_LINES 20
#define STATUS_NS NSEC_PER_SEC
#define BLKGETSIZE64_REQ 0x80081272ul

static int fd;
static const char *dev = "/dev/vda";
static uint64_t nblocks;                     /* data blocks */
static uint64_t written, acked, start_acked; /* sequence numbers */
static uint64_t header_sync;                 /* the --sync of the run that wrote the header */
static uint64_t verified, bad, zero_blocks, good_data;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Checksum of every word but the checksum word itself. */
static uint64_t block_sum(const uint64_t *w)
{
    uint64_t h = 0x6a09e667f3bcc908ull;
    for (unsigned i = 0; i < WORDS; i++)
        if (i != W_SUM)
            h = mix64(h ^ w[i]) + i;
    return h;
}

static uint64_t block_of(uint64_t seq) { return (seq - 1) % nblocks + 1; }
static uint64_t gen_of(uint64_t seq) { return seq ? (seq - 1) / nblocks + 1 : 0; }

/* The last write to block b among writes 1..upto (0: none). */
static uint64_t last_write(uint64_t b, uint64_t upto)
{
    return upto < b ? 0 : (upto - b) / nblocks * nblocks + b;
}

static void fill_block(uint64_t *w, uint64_t seq)
{
    w[W_MAGIC] = BLOCK_MAGIC;
    w[W_BLOCK] = block_of(seq);
    w[W_GEN] = gen_of(seq);
    w[W_SEQ] = seq;
    for (unsigned i = W_PAYLOAD; i < WORDS; i++)
        w[i] = mix64(seq << 9 | i);
    w[W_SUM] = block_sum(w);
}

static void pread_all(void *buf, size_t len, uint64_t off)
{
    for (size_t done = 0; done < len;) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("read of %s at byte %" PRIu64 " failed: %s", dev, off + done, r ? strerror(errno) : "end of device");
        done += (size_t)r;
    }
}

static void pwrite_all(const void *buf, size_t len, uint64_t off)
{
    for (size_t done = 0; done < len;) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("write of %s at byte %" PRIu64 " failed: %s", dev, off + done, r ? strerror(errno) : "end of device");
        done += (size_t)r;
    }
}

static void sync_dev(void)
{
    if (fsync(fd) != 0)
        die("fsync of %s failed: %s", dev, strerror(errno));
}

/* ---- header ---- */

static void header_write(uint64_t seq)
{
    static uint64_t h[WORDS] __attribute__((aligned(BLOCK)));
    memset(h, 0, sizeof h);
    h[0] = HEADER_MAGIC;
    h[1] = nblocks;
    h[2] = gen_of(seq);
    h[3] = seq;
    h[5] = header_sync;
    h[W_SUM] = block_sum(h);
    pwrite_all(h, BLOCK, 0);
}

/* The acknowledged sequence number, or -1 when the header is not ours for this N. */
static int64_t header_read(uint64_t *n_out)
{
    static uint64_t h[WORDS] __attribute__((aligned(BLOCK)));
    pread_all(h, BLOCK, 0);
    if (h[0] != HEADER_MAGIC || h[W_SUM] != block_sum(h) || h[1] == 0 || h[2] != (h[3] ? (h[3] - 1) / h[1] + 1 : 0))
        return -1;
    *n_out = h[1];
    header_sync = h[5];
    return (int64_t)h[3];
}

/* ---- checking ---- */

static const char *why_corrupt(const uint64_t *w, uint64_t b)
{
    if (w[W_MAGIC] != BLOCK_MAGIC)
        return "magic";
    if (w[W_BLOCK] != b)
        return "block-number";
    if (w[W_SUM] != block_sum(w))
        return "checksum";
    uint64_t seq = w[W_SEQ];
    if (seq == 0 || block_of(seq) != b || w[W_GEN] != gen_of(seq))
        return "sequence";
    for (unsigned i = W_PAYLOAD; i < WORDS; i++)
        if (w[i] != mix64(seq << 9 | i))
            return "payload";
    return NULL;
}

static int all_zero(const uint64_t *w)
{
    for (unsigned i = 0; i < WORDS; i++)
        if (w[i])
            return 0;
    return 1;
}

static void report(uint64_t b, const char *kind, uint64_t expected, uint64_t found, const char *detail)
{
    if (bad++ < MAX_BAD_LINES)
        put_line("blkverify BAD block=%" PRIu64 " kind=%s expected-seq=%" PRIu64 " found-seq=%" PRIu64 "%s%s",
                 b, kind, expected, found, detail ? " " : "", detail ? detail : "");
}

/* Checks data block b. verify_only: against the header alone (one write past the
 * acknowledged one may be there); else against what this run wrote. */
static void check_block(const uint64_t *w, uint64_t b, int verify_only)
{
    verified++;
    uint64_t acked_last = last_write(b, acked);
    uint64_t latest = verify_only ? acked_last : last_write(b, written);
    uint64_t found = 0;
    if (all_zero(w)) {
        zero_blocks++;
    } else {
        const char *why = why_corrupt(w, b);
        if (why) {
            char detail[64];
            snprintf(detail, sizeof detail, "bad=%s", why);
            report(b, "corrupt", latest, w[W_SEQ], detail);
            return;
        }
        found = w[W_SEQ];
    }
    if (found == latest) {
        good_data += found != 0;
        return;
    }
    if (found > latest) {
        /* The write after the acknowledged one (verify-only), or a write of an earlier run
         * that was never acknowledged and not yet overwritten by this one: the writer makes at
         * most --sync writes past the acknowledged one. */
        uint64_t next = latest ? latest + nblocks : b, bound = verify_only ? acked : start_acked;
        if (found == next && found <= bound + header_sync) {
            good_data++;
            return;
        }
        report(b, "future", latest, found, NULL);
    } else {
        report(b, found < acked_last ? "lost" : "stale", latest, found, NULL);
    }
}

/* Reads and checks data blocks [first, first + count). */
static void verify_range(uint64_t first, uint64_t count, int verify_only)
{
    static uint64_t buf[READ_BLOCKS * WORDS] __attribute__((aligned(BLOCK)));
    while (count) {
        uint64_t n = count < READ_BLOCKS ? count : READ_BLOCKS;
        pread_all(buf, n * BLOCK, first * BLOCK);
        for (uint64_t i = 0; i < n; i++)
            check_block(buf + i * WORDS, first + i, verify_only);
        first += n;
        count -= n;
    }
}

static uint64_t device_bytes(void)
{
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64_REQ, &size) == 0)
        return size;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return (uint64_t)st.st_size;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        die("cannot tell the size of %s: %s", dev, strerror(errno));
    return (uint64_t)end;
}

static void status_line(void)
{
    put_line("blkverify %s written=%" PRIu64 " acked=%" PRIu64 " verified=%" PRIu64 " bad=%" PRIu64 " gen=%" PRIu64,
             bad ? "FAIL" : "OK", written, acked, verified, bad, gen_of(written));
}

static int verify_only_run(void)
{
    uint64_t n;
    int64_t a = header_read(&n);
    if (a < 0) {
        put_line("blkverify BAD block=0 kind=corrupt expected-seq=0 found-seq=0 bad=header");
        put_line("blkverify verified dev=%s blocks=0 acked=0 gen=0 written=0 zero=0 bad=1", dev);
        return 1;
    }
    if (n == 0 || n > device_bytes() / BLOCK - 1)
        die("the header of %s says %" PRIu64 " data blocks, more than the device holds", dev, n);
    nblocks = n;
    acked = written = start_acked = (uint64_t)a;
    verify_range(1, nblocks, 1);
    put_line("blkverify verified dev=%s blocks=%" PRIu64 " acked=%" PRIu64 " gen=%" PRIu64 " written=%" PRIu64
             " zero=%" PRIu64 " bad=%" PRIu64, dev, nblocks, acked, gen_of(acked), good_data, zero_blocks,
             bad);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    uint64_t rate = 200, want_blocks = 0, sync_every = 64, hb_ms = 100, seconds = 0;
    int verify_only = 0;
    static const struct option options[] = {
        { "dev", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'r' },
        { "blocks", required_argument, NULL, 'b' },
        { "sync", required_argument, NULL, 'y' },
        { "hb-ms", required_argument, NULL, 'H' },
        { "seconds", required_argument, NULL, 's' },
        { "verify-only", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "d:r:b:y:H:s:V", options, NULL)) != -1) {
        switch (c) {
        case 'd': dev = optarg; break;
        case 'r': rate = parse_u64("--rate", optarg, 10000000); break;
        case 'b': want_blocks = parse_u64("--blocks", optarg, 1ull << 40); break;
        case 'y': sync_every = parse_u64("--sync", optarg, 1 << 20); break;
        case 'H': hb_ms = parse_u64("--hb-ms", optarg, 60000); break;
        case 's': seconds = parse_u64("--seconds", optarg, 100000000); break;
        case 'V': verify_only = 1; break;
        default: usage_error("unknown option");
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (hb_ms == 0)
        usage_error("--hb-ms must be at least 1");
    if (sync_every == 0)
        usage_error("--sync must be at least 1");

    fd = open(dev, verify_only ? O_RDONLY : O_RDWR);
    if (fd < 0)
        die("cannot open %s: %s", dev, strerror(errno));
    if (verify_only)
        return verify_only_run();

    uint64_t capacity = device_bytes() / BLOCK;
    if (capacity < 3)
        die("%s holds %" PRIu64 " blocks of 4 KiB; blkverify needs at least 3", dev, capacity);
    nblocks = want_blocks ? want_blocks : capacity - 1;
    if (nblocks > capacity - 1)
        die("--blocks %" PRIu64 " does not fit: %s holds %" PRIu64 " data blocks", nblocks, dev, capacity - 1);
    if (nblocks < 2)
        usage_error("--blocks must be at least 2");
    if (sync_every > nblocks / 2)
        sync_every = nblocks / 2;

    uint64_t header_n;
    int64_t a = header_read(&header_n);
    if (a >= 0 && header_n == nblocks) {
        acked = start_acked = (uint64_t)a;
        /* Leftovers of the last run lie within its --sync, this run's within its own. */
        if (header_sync < sync_every) {
            header_sync = sync_every;
            header_write(acked);
            sync_dev();
        }
    } else {
        header_sync = sync_every;
        header_write(0);
        sync_dev();
    }
    written = acked;
    put_line("blkverify ready dev=%s blocks=%" PRIu64 " rate=%" PRIu64 " sync=%" PRIu64 " start-seq=%" PRIu64,
             dev, nblocks, rate, sync_every, written + 1);

    static uint64_t block[WORDS] __attribute__((aligned(BLOCK)));
    uint64_t start = now_ns(), end = seconds ? start + seconds * NSEC_PER_SEC : UINT64_MAX;
    uint64_t interval = rate ? NSEC_PER_SEC / rate : 0, next_write = start;
    uint64_t hb_ns = hb_ms * 1000000ull, next_hb = start + hb_ns, hb_seq = 0;
    uint64_t next_status = start + STATUS_NS, scan = 1, since_sync = 0, run_writes = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= next_hb) {
            put_line("HB %" PRIu64 " %" PRIu64 " %" PRIu64, ++hb_seq, now, run_writes);
            next_hb += hb_ns;
            if (next_hb <= now)   /* a stall: skip the missed beats rather than burst */
                next_hb = now + hb_ns;
        }
        if (now >= next_status) {
            status_line();
            next_status = now + STATUS_NS;
        }
        if (now >= end)
            break;
        if (now < next_write) {
            uint64_t wake = next_write < next_hb ? next_write : next_hb;
            if (wake > end)
                wake = end;
            if (wake > now + 1000000)   /* spin the last millisecond, sleep longer waits */
                sleep_ns(wake - now - 1000000);
            continue;
        }
        fill_block(block, written + 1);
        pwrite_all(block, BLOCK, block_of(written + 1) * BLOCK);
        written++;
        run_writes++;
        next_write += interval;
        if (next_write + 50000000 < now)   /* 50 ms behind (a pause): drop the backlog */
            next_write = now;
        if (++since_sync == sync_every) {
            since_sync = 0;
            sync_dev();
            header_write(written);
            sync_dev();
            uint64_t first_synced = written - sync_every + 1;
            acked = written;
            /* the blocks just synced (two stretches when they wrap), then the rolling pass */
            uint64_t b = block_of(first_synced), n1 = nblocks - b + 1 < sync_every ? nblocks - b + 1 : sync_every;
            verify_range(b, n1, 0);
            if (n1 < sync_every)
                verify_range(1, sync_every - n1, 0);
            uint64_t n = nblocks - scan + 1 < sync_every ? nblocks - scan + 1 : sync_every;
            verify_range(scan, n, 0);
            scan = scan + n > nblocks ? 1 : scan + n;
        }
    }
    sync_dev();
    header_write(written);
    sync_dev();
    acked = written;
    verify_range(1, nblocks, 0);
    status_line();
    put_line("blkverify done written=%" PRIu64 " acked=%" PRIu64 " verified=%" PRIu64 " bad=%" PRIu64,
             written, acked, verified, bad);
    return bad ? 1 : 0;
}
