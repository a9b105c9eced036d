/*
 * memverify - fill memory with checkable contents and keep checking them.
 *
 * usage: memverify [--mb N] [--mode rewrite|idle] [--period-ms MS] [--status-ms MS] [--seconds S]
 *   -m, --mb N           MiB to fill (default 64)
 *   -M, --mode M         rewrite (default): sweep the pages over and over; for each
 *                          page verify its contents, bump its generation, rewrite it
 *                        idle: after the fill, verify every page each MS ms and
 *                          sleep in between (memory stays unchanged)
 *   -P, --period-ms MS   idle mode's verify period (default 1000)
 *   -S, --status-ms MS   rewrite mode's status period, 10 to 60000 (default 1000); tests
 *                        that wait for a fresh verdict use a short one
 *   -s, --seconds S      stop after S seconds and exit (default 0 = run forever)
 *   -i, --inject KIND    test the checker itself: right after the fill, damage pages
 *                        1 and 2: zero (zero page 1), swap (exchange pages 1 and 2),
 *                        flip (flip one bit in word 7 of page 1); so a run must fail
 *
 * Every 8-byte word w of page p at generation g holds mix64(p << 20 | g << 9 | w,
 * plus a constant). mix64 is a bijection, so no two (page, generation, word) share a
 * value and no value is 0: a zeroed page, a stale page (older generation), another
 * page's contents or one flipped bit are all caught. The generation of each page is
 * kept in one byte per page outside the checked memory.
 *
 * Output (stdout, one write() per line):
 *   memverify ready mb=N mode=M                      after the fill
 *   memverify OK pass=K pages=P bad=0 mb=N mode=M    every --status-ms (idle: every pass); K = full
 *                                                    passes done, P = page checks done
 *   memverify FAIL pass=K pages=P bad=B mb=N mode=M  the same, once any page was bad
 *   memverify BAD page=P gen=G word=W expected=0x... got=0x... holds=WHAT
 *        on a mismatch (first word of the page that differs; at most 8 lines per
 *        pass). WHAT says what the word holds instead: zero, page=P',gen=G',word=W'
 *        (the value memverify would write there), or unknown.
 *   memverify done pass=K pages=P bad=B              when --seconds ends the run
 * Exit status: 0 if no page was ever bad, 1 otherwise.
 */
#include "workload.h"
#include <getopt.h>
#include <sys/mman.h>

#define WORDS_PER_PAGE (PAGE_SIZE / 8)
#define BAD_LINES_PER_PASS 8
#define SALT 0x9e3779b97f4a7c15ull

/* The splitmix64 finalizer: a bijection on 64-bit values. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* The inverse of mix64, to tell what a wrong word holds. */
static uint64_t unmix64(uint64_t x)
{
    x ^= x >> 31 ^ x >> 62;
    x *= 0x319642b2d24d8ec3ull;   /* the inverse of 0x94d049bb133111eb mod 2^64 */
    x ^= x >> 27 ^ x >> 54;
    x *= 0x96de1b173f119089ull;   /* the inverse of 0xbf58476d1ce4e5b9 mod 2^64 */
    x ^= x >> 30 ^ x >> 60;
    return x;
}

static inline uint64_t expected_word(uint64_t page, uint8_t gen, unsigned word)
{
    return mix64((page << 20 | (uint64_t)gen << 9 | word) + SALT);
}

static void write_page(uint64_t *words, uint64_t page, uint8_t gen)
{
    for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
        words[w] = expected_word(page, gen, w);
}

static uint64_t bad_pages, pages_checked, passes, bad_lines_this_pass;

/* Checks one page; on a mismatch reports its first wrong word. Returns 1 if good. */
static int check_page(const volatile uint64_t *words, uint64_t page, uint8_t gen)
{
    pages_checked++;
    for (unsigned w = 0; w < WORDS_PER_PAGE; w++) {
        uint64_t want = expected_word(page, gen, w), got = words[w];
        if (got == want)
            continue;
        bad_pages++;
        if (bad_lines_this_pass++ < BAD_LINES_PER_PASS) {
            char holds[80] = "unknown";
            uint64_t in = unmix64(got) - SALT;
            if (got == 0)
                strcpy(holds, "zero");
            else if (in >> 20 < (1ull << 40))   /* plausibly one of ours */
                snprintf(holds, sizeof holds, "page=%" PRIu64 ",gen=%u,word=%u",
                         in >> 20, (unsigned)(in >> 9 & 0xff), (unsigned)(in & 511));
            put_line("memverify BAD page=%" PRIu64 " gen=%u word=%u expected=0x%016" PRIx64
                     " got=0x%016" PRIx64 " holds=%s", page, gen, w, want, got, holds);
        }
        return 0;
    }
    return 1;
}

/* --inject: damages pages 1 and 2 the way a broken migration might. */
static void damage(uint64_t *mem, const char *kind)
{
    uint64_t *one = mem + WORDS_PER_PAGE, *two = mem + 2 * WORDS_PER_PAGE;
    if (!strcmp(kind, "zero")) {
        memset(one, 0, PAGE_SIZE);
    } else if (!strcmp(kind, "swap")) {
        for (unsigned w = 0; w < WORDS_PER_PAGE; w++) {
            uint64_t t = one[w];
            one[w] = two[w];
            two[w] = t;
        }
    } else {
        one[7] ^= 1ull << 17;
    }
}

static const char *mode_name;
static uint64_t mb;

static void status_line(void)
{
    put_line("memverify %s pass=%" PRIu64 " pages=%" PRIu64 " bad=%" PRIu64 " mb=%" PRIu64 " mode=%s",
             bad_pages ? "FAIL" : "OK", passes, pages_checked, bad_pages, mb, mode_name);
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    uint64_t period_ms = 1000, status_ms = 1000, seconds = 0;
    int idle = 0;
    const char *inject = NULL;
    mb = 64;
    static const struct option options[] = {
        { "mb", required_argument, NULL, 'm' },
        { "mode", required_argument, NULL, 'M' },
        { "period-ms", required_argument, NULL, 'P' },
        { "status-ms", required_argument, NULL, 'S' },
        { "seconds", required_argument, NULL, 's' },
        { "inject", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:M:P:S:s:i:", options, NULL)) != -1) {
        switch (c) {
        case 'm': mb = parse_u64("--mb", optarg, 1 << 24); break;
        case 'M':
            if (!strcmp(optarg, "idle"))
                idle = 1;
            else if (strcmp(optarg, "rewrite"))
                usage_error("--mode wants rewrite or idle, not '%s'", optarg);
            break;
        case 'P': period_ms = parse_u64("--period-ms", optarg, 3600000); break;
        case 'S':
            status_ms = parse_u64("--status-ms", optarg, 60000);
            if (status_ms < 10)
                usage_error("--status-ms must be at least 10");
            break;
        case 's': seconds = parse_u64("--seconds", optarg, 100000000); break;
        case 'i':
            if (strcmp(optarg, "zero") && strcmp(optarg, "swap") && strcmp(optarg, "flip"))
                usage_error("--inject wants zero, swap or flip, not '%s'", optarg);
            inject = optarg;
            break;
        default: usage_error("unknown option");
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (mb == 0)
        usage_error("--mb must be at least 1");
    if (inject && mb * (1 << 20) / PAGE_SIZE < 3)
        usage_error("--inject needs at least 3 pages");
    mode_name = idle ? "idle" : "rewrite";

    uint64_t npages = (mb << 20) / PAGE_SIZE;
    void *p = mmap(NULL, npages * PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED && errno == EINVAL)   /* a small kernel may refuse MAP_POPULATE */
        p = mmap(NULL, npages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %" PRIu64 " MiB failed: %s", mb, strerror(errno));
    uint64_t *mem = p;
    uint8_t *gen = calloc(npages, 1);
    if (!gen)
        die("out of memory for %" PRIu64 " page generations", npages);

    for (uint64_t pg = 0; pg < npages; pg++)
        write_page(mem + pg * WORDS_PER_PAGE, pg, 0);
    put_line("memverify ready mb=%" PRIu64 " mode=%s", mb, mode_name);
    if (inject)
        damage(mem, inject);

    uint64_t start = now_ns();
    uint64_t end = seconds ? start + seconds * NSEC_PER_SEC : UINT64_MAX;
    const uint64_t status_ns = status_ms * 1000000ull;
    uint64_t next_status = start + status_ns;
    if (idle) {
        const uint64_t period_ns = period_ms * 1000000ull;
        uint64_t next = start + period_ns;
        for (int last = 0; !last;) {
            uint64_t now = now_ns();
            uint64_t wake = next < end ? next : end;
            if (now < wake) {
                sleep_ns(wake - now);
                continue;
            }
            last = now >= end;   /* one more check when the time is up */
            bad_lines_this_pass = 0;
            for (uint64_t pg = 0; pg < npages; pg++)
                check_page(mem + pg * WORDS_PER_PAGE, pg, gen[pg]);
            passes++;
            status_line();
            next += period_ns;
            now = now_ns();
            if (next < now)   /* a pass longer than the period: no catch-up burst */
                next = now;
        }
    } else {
        for (;;) {
            bad_lines_this_pass = 0;
            for (uint64_t pg = 0; pg < npages; pg++) {
                uint64_t *words = mem + pg * WORDS_PER_PAGE;
                check_page(words, pg, gen[pg]);
                write_page(words, pg, ++gen[pg]);
                if ((pg & 63) == 63) {
                    uint64_t now = now_ns();
                    if (now >= next_status) {
                        status_line();
                        next_status = now + status_ns;
                    }
                    if (now >= end)
                        goto done;
                }
            }
            passes++;
            if (now_ns() >= end)
                break;
        }
    }
done:
    put_line("memverify done pass=%" PRIu64 " pages=%" PRIu64 " bad=%" PRIu64,
             passes, pages_checked, bad_pages);
    return bad_pages ? 1 : 0;
}
