/*
 * memtouch - fill a working set, then dirty its pages at a set rate and heartbeat.
 *
 * usage: memtouch [--mb N] [--rate R] [--pattern P] [--threads T] [--hb-ms MS] [--seconds S]
 *   -m, --mb N         working set in MiB (default 64)
 *   -r, --rate R       pages dirtied per second, all threads together (default 0):
 *                      0 = idle after the fill (heartbeats only); -1 or "max" = unthrottled
 *   -p, --pattern P    which pages get dirtied (default seq):
 *                        seq      each thread walks its share of pages in order, wrapping
 *                        random   uniformly random pages of the thread's share
 *                        hotcold  90% of writes go to the hot 10% of the thread's share
 *                                 (its first tenth), 10% to the cold rest; random in each
 *   -t, --threads T    dirtying threads (default 1); the main thread is one of them
 *   -b, --hb-ms MS     heartbeat period in ms, 1 to 60000 (default 10)
 *   -s, --seconds S    exit with status 0 after S seconds of dirtying (default 0 = never)
 *
 * Output (stdout, one write() per line, all from the main thread):
 *   memtouch ready mb=N threads=T rate=R pattern=P        once every page has been written
 *   HB <seq> <CLOCK_MONOTONIC ns> <pages dirtied total>   every MS ms; seq counts from 1
 *   memtouch done seconds=S pages=N rate=R                at the end of --seconds
 * rate= in the ready line is the pages/s asked for, or "max"; in the done line it is
 * the rate achieved since the ready line. Pages dirtied count writes after the fill.
 *
 * Each thread owns a contiguous share of the pages. The fill writes one non-zero word
 * to every page. Each dirtying write stores a new value (a per-thread counter) into one
 * 8-byte word of the page, so the page's content really changes.
 *
 * Pacing: a thread computes how many pages are due from CLOCK_MONOTONIC (the vDSO, no
 * system call) and writes them in small batches. It spins while the next page is due
 * in under 1 ms and sleeps with nanosleep only for longer waits, because in Ferry's
 * test guest every system call and timer interrupt costs tens of microseconds. A thread
 * that falls behind (e.g. the VM was paused) drops what is more than 50 ms late rather
 * than writing a burst, so the heartbeat counter shows the rate actually achieved.
 * Heartbeats come from the main thread, which also dirties its share between them, so
 * with --threads 1 the program needs no second thread at all.
 */
#include "workload.h"
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#define UNTHROTTLED UINT64_MAX
#define BATCH 64                    /* pages written between two clock reads */
#define SPIN_BELOW_NS 1000000ull    /* shorter waits spin, longer ones sleep */
#define MAX_LATE_NS 50000000ull     /* dropped backlog beyond this */

enum pattern { SEQ, RANDOM, HOTCOLD };
static const char *const pattern_names[] = { "seq", "random", "hotcold" };

/* One dirtying thread's state. Aligned so threads never share a cache line. */
struct dirtier {
    _Alignas(64) _Atomic uint64_t pages;  /* dirtied so far; read by the heartbeat */
    uint64_t written;                     /* this thread's copy of pages */
    unsigned char *first_page;            /* the thread's share ... */
    uint64_t npages;                      /* ... and its size */
    uint64_t rate;                        /* pages/s, 0 or UNTHROTTLED */
    enum pattern pattern;
    uint64_t cursor;                      /* seq: next page */
    uint64_t rng;                         /* random, hotcold */
    uint64_t stamp;                       /* the value the next write stores */
    uint64_t start_ns;                    /* pacing origin */
    uint64_t issued;                      /* pages accounted for by the pacing */
    pthread_t thread;
    pthread_barrier_t *filled;
};

static _Atomic int stop;

static void fill(struct dirtier *d)
{
    for (uint64_t i = 0; i < d->npages; i++)
        *(volatile uint64_t *)(d->first_page + i * PAGE_SIZE) = d->stamp + i;
    d->stamp += d->npages;
}

static inline uint64_t pick_page(struct dirtier *d)
{
    if (d->pattern == SEQ) {
        uint64_t p = d->cursor;
        if (++d->cursor == d->npages)
            d->cursor = 0;
        return p;
    }
    uint64_t r = rand64(&d->rng);
    if (d->pattern == RANDOM)
        return below((uint32_t)r, d->npages);
    uint64_t hot = d->npages / 10 ? d->npages / 10 : 1;
    if (d->npages == hot || (uint32_t)r < 0xe6666666u)   /* 0.9 * 2^32 */
        return below(r >> 32, hot);
    return hot + below(r >> 32, d->npages - hot);
}

static void dirty_pages(struct dirtier *d, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        uint64_t p = pick_page(d);
        /* A different cache line per page, so a walk does not hit one cache set. */
        *(volatile uint64_t *)(d->first_page + p * PAGE_SIZE + (p & 63) * 64) = d->stamp++;
    }
    d->written += n;
    atomic_store_explicit(&d->pages, d->written, memory_order_relaxed);
}

/*
 * Writes the pages due at time now, at most one batch. Returns 0 if more may be due
 * at once, else the ns until the next page is due (UINT64_MAX: never).
 */
static uint64_t dirty_step(struct dirtier *d, uint64_t now)
{
    if (d->rate == 0)
        return UINT64_MAX;
    if (d->rate == UNTHROTTLED) {
        dirty_pages(d, BATCH);
        return 0;
    }
    unsigned __int128 elapsed = now > d->start_ns ? now - d->start_ns : 0;
    uint64_t due = (uint64_t)(elapsed * d->rate / NSEC_PER_SEC);
    uint64_t max_late = (uint64_t)((unsigned __int128)MAX_LATE_NS * d->rate / NSEC_PER_SEC) + BATCH;
    if (due > d->issued + max_late)
        d->issued = due - max_late;
    if (due <= d->issued) {
        uint64_t next = d->start_ns +
            (uint64_t)(((unsigned __int128)(d->issued + 1) * NSEC_PER_SEC + d->rate - 1) / d->rate);
        return next > now ? next - now : 1;
    }
    uint64_t n = due - d->issued < BATCH ? due - d->issued : BATCH;
    d->issued += n;
    dirty_pages(d, n);
    return 0;
}

static void *dirtier_thread(void *arg)
{
    struct dirtier *d = arg;
    fill(d);
    pthread_barrier_wait(d->filled);
    d->start_ns = now_ns();
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && d->rate != 0) {
        uint64_t wait = dirty_step(d, d->rate == UNTHROTTLED ? 0 : now_ns());
        if (wait >= SPIN_BELOW_NS)
            sleep_ns(wait < 100 * SPIN_BELOW_NS ? wait : 100 * SPIN_BELOW_NS);
    }
    return NULL;
}

static uint64_t pages_total(struct dirtier *d, unsigned n)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += atomic_load_explicit(&d[i].pages, memory_order_relaxed);
    return sum;
}

static void *map_memory(uint64_t bytes)
{
    /* MAP_POPULATE lets a kernel map the whole set at once; retry without it
     * in case a small kernel refuses the flag. */
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED && errno == EINVAL)
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %" PRIu64 " MiB failed: %s", bytes >> 20, strerror(errno));
    return p;
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    uint64_t mb = 64, rate = 0, hb_ms = 10, seconds = 0, threads = 1;
    enum pattern pattern = SEQ;
    static const struct option options[] = {
        { "mb", required_argument, NULL, 'm' },
        { "rate", required_argument, NULL, 'r' },
        { "pattern", required_argument, NULL, 'p' },
        { "threads", required_argument, NULL, 't' },
        { "hb-ms", required_argument, NULL, 'b' },
        { "seconds", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:r:p:t:b:s:", options, NULL)) != -1) {
        switch (c) {
        case 'm': mb = parse_u64("--mb", optarg, 1 << 24); break;
        case 'r':
            if (!strcmp(optarg, "max") || !strcmp(optarg, "-1"))
                rate = UNTHROTTLED;
            else
                rate = parse_u64("--rate", optarg, 1000000000000ull);
            break;
        case 'p':
            for (pattern = SEQ; pattern <= HOTCOLD; pattern++)
                if (!strcmp(optarg, pattern_names[pattern]))
                    break;
            if (pattern > HOTCOLD)
                usage_error("--pattern wants seq, random or hotcold, not '%s'", optarg);
            break;
        case 't': threads = parse_u64("--threads", optarg, 1024); break;
        case 'b': hb_ms = parse_u64("--hb-ms", optarg, 60000); break;
        case 's': seconds = parse_u64("--seconds", optarg, 100000000); break;
        default: usage_error("unknown option");
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (threads == 0 || hb_ms == 0)
        usage_error("--threads and --hb-ms must be at least 1");
    uint64_t npages = (mb << 20) / PAGE_SIZE;
    if (npages < threads)
        usage_error("--mb %" PRIu64 " is too small for %" PRIu64 " threads", mb, threads);

    unsigned char *mem = map_memory(npages * PAGE_SIZE);
    struct dirtier *d = aligned_alloc(64, threads * sizeof *d);
    if (!d)
        die("out of memory for %" PRIu64 " threads", threads);
    memset(d, 0, threads * sizeof *d);
    pthread_barrier_t filled;
    if (threads > 1 && (errno = pthread_barrier_init(&filled, NULL, threads)) != 0)
        die("pthread_barrier_init failed: %s", strerror(errno));
    for (uint64_t i = 0; i < threads; i++) {
        uint64_t first = npages * i / threads, end = npages * (i + 1) / threads;
        d[i].first_page = mem + first * PAGE_SIZE;
        d[i].npages = end - first;
        d[i].pattern = pattern;
        d[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
        d[i].stamp = (i + 1) << 48;   /* never 0, and unique per thread */
        d[i].filled = &filled;
        if (rate == UNTHROTTLED || rate == 0)
            d[i].rate = rate;
        else   /* split the rate; a thread whose share rounds to 0 stays idle */
            d[i].rate = rate / threads + (i < rate % threads);
    }
    for (uint64_t i = 1; i < threads; i++)
        if ((errno = pthread_create(&d[i].thread, NULL, dirtier_thread, &d[i])) != 0)
            die("pthread_create of thread %" PRIu64 " failed: %s", i, strerror(errno));

    fill(&d[0]);
    if (threads > 1)
        pthread_barrier_wait(&filled);
    char rate_text[24];
    if (rate == UNTHROTTLED)
        strcpy(rate_text, "max");
    else
        snprintf(rate_text, sizeof rate_text, "%" PRIu64, rate);
    put_line("memtouch ready mb=%" PRIu64 " threads=%" PRIu64 " rate=%s pattern=%s",
             mb, threads, rate_text, pattern_names[pattern]);

    const uint64_t hb_ns = hb_ms * 1000000ull;
    uint64_t start = now_ns();
    uint64_t end = seconds ? start + seconds * NSEC_PER_SEC : UINT64_MAX;
    uint64_t next_hb = start + hb_ns, seq = 1;
    d[0].start_ns = start;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= next_hb) {
            put_line("HB %" PRIu64 " %" PRIu64 " %" PRIu64, seq++, now, pages_total(d, threads));
            next_hb += hb_ns;
            if (next_hb <= now)   /* after a stall, no burst of heartbeats */
                next_hb = now + hb_ns;
        }
        if (now >= end)
            break;
        uint64_t wait = dirty_step(&d[0], now);
        if (wait) {
            if (wait > next_hb - now)
                wait = next_hb - now;
            if (wait > end - now)
                wait = end - now;
            if (wait >= SPIN_BELOW_NS)
                sleep_ns(wait);
        }
    }

    atomic_store(&stop, 1);
    for (uint64_t i = 1; i < threads; i++)
        if ((errno = pthread_join(d[i].thread, NULL)) != 0)
            die("pthread_join of thread %" PRIu64 " failed: %s", i, strerror(errno));
    uint64_t elapsed = now_ns() - start, pages = pages_total(d, threads);
    put_line("memtouch done seconds=%.3f pages=%" PRIu64 " rate=%.0f",
             elapsed / 1e9, pages, pages * 1e9 / elapsed);
    return 0;
}
