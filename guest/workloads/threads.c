/*
 * threads - runs one thread per CPU to show that a program's threads run, meet and
 * finish on every vCPU: clone, futex (through pthread mutex, condition variable and
 * join), thread-local storage and sched_getcpu.
 *
 * usage: threads [--threads N] [--spin-ms MS]
 *   -t, --threads N    threads to start (default: the CPUs this program may run on,
 *                      from sched_getaffinity, else sysconf(_SC_NPROCESSORS_ONLN))
 *   -s, --spin-ms MS   how long each thread spins at user level (default 200)
 *
 * Every thread first waits until all N have started (a condition variable), so each
 * one sees N threads alive at once; then it spins for MS ms, sampling sched_getcpu()
 * about every millisecond, and adds to a shared counter under a mutex.
 *
 * Output:
 *   threads ok n=N cpus-seen=K            K = distinct CPUs any thread ran on
 *   threads FAIL <reason>                 on any failure, with exit status 1
 */
#include "workload.h"
#include <getopt.h>
#include <pthread.h>
#include <sched.h>

#define MAX_CPUS 1024
#define ROUNDS 1000   /* mutex-protected increments per thread */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_started = PTHREAD_COND_INITIALIZER;
static unsigned started, nthreads;
static uint64_t counter;
static uint64_t spin_ns;
static unsigned char cpu_seen[MAX_CPUS];
static __thread unsigned my_index;   /* checks that each thread has its own TLS */

struct result {
    unsigned saw;      /* threads alive when this one was released */
    int getcpu_errno;  /* 0, or why sched_getcpu failed */
    int bad_cpu;       /* a CPU number out of range, or -1 */
    unsigned index;    /* my_index read back at the end */
};

__attribute__((noreturn, format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    put_line("threads FAIL %s", msg);
    exit(1);
}

static void record_cpu(struct result *r)
{
    int cpu = sched_getcpu();
    if (cpu < 0) {
        r->getcpu_errno = errno;
        return;
    }
    if (cpu >= MAX_CPUS) {
        r->bad_cpu = cpu;
        return;
    }
    pthread_mutex_lock(&lock);
    cpu_seen[cpu] = 1;
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
    struct result *r = arg;
    my_index = r->index;   /* read back at the end: a shared TLS would lose it */

    pthread_mutex_lock(&lock);
    if (++started == nthreads)
        pthread_cond_broadcast(&all_started);
    while (started < nthreads)
        pthread_cond_wait(&all_started, &lock);
    r->saw = started;
    pthread_mutex_unlock(&lock);

    /* Spin at user level; sched_getcpu about once a millisecond (it may be a
     * system call, which is slow in Ferry's guest). */
    uint64_t start = now_ns(), next_sample = start;
    for (uint64_t now = start; now - start < spin_ns; now = now_ns()) {
        if (now >= next_sample) {
            record_cpu(r);
            next_sample = now + 1000000;
        }
        for (volatile int i = 0; i < 1000; i++)
            ;
    }
    record_cpu(r);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    r->index = my_index;
    return NULL;
}

static unsigned cpus_allowed(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        fail("cannot count CPUs: sched_getaffinity and sysconf(_SC_NPROCESSORS_ONLN) both failed");
    return (unsigned)n;
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    uint64_t spin_ms = 200;
    static const struct option options[] = {
        { "threads", required_argument, NULL, 't' },
        { "spin-ms", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "t:s:", options, NULL)) != -1) {
        switch (c) {
        case 't': nthreads = (unsigned)parse_u64("--threads", optarg, MAX_CPUS); break;
        case 's': spin_ms = parse_u64("--spin-ms", optarg, 3600000); break;
        default: usage_error("unknown option");
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (nthreads == 0)
        nthreads = cpus_allowed();
    spin_ns = spin_ms * 1000000ull;

    struct result *results = calloc(nthreads, sizeof *results);
    pthread_t *ids = calloc(nthreads, sizeof *ids);
    if (!results || !ids)
        fail("out of memory");
    for (unsigned i = 0; i < nthreads; i++) {
        results[i].index = i;
        results[i].bad_cpu = -1;
        int err = pthread_create(&ids[i], NULL, worker, &results[i]);
        if (err)
            fail("pthread_create of thread %u failed: %s", i, strerror(err));
    }
    for (unsigned i = 0; i < nthreads; i++) {
        int err = pthread_join(ids[i], NULL);
        if (err)
            fail("pthread_join of thread %u failed: %s", i, strerror(err));
    }

    for (unsigned i = 0; i < nthreads; i++) {
        struct result *r = &results[i];
        if (r->saw != nthreads)
            fail("thread %u saw %u threads started, not %u", i, r->saw, nthreads);
        if (r->getcpu_errno)
            fail("sched_getcpu failed in thread %u: %s", i, strerror(r->getcpu_errno));
        if (r->bad_cpu >= 0)
            fail("sched_getcpu gave CPU %d in thread %u, beyond %d", r->bad_cpu, i, MAX_CPUS - 1);
        if (r->index != i)
            fail("thread %u read back thread-local value %u: TLS is shared or lost", i, r->index);
    }
    if (counter != (uint64_t)nthreads * ROUNDS)
        fail("mutex-protected counter is %" PRIu64 ", not %" PRIu64 ": the mutex lost updates",
             counter, (uint64_t)nthreads * ROUNDS);
    unsigned seen = 0;
    for (int cpu = 0; cpu < MAX_CPUS; cpu++)
        seen += cpu_seen[cpu];
    put_line("threads ok n=%u cpus-seen=%u", nthreads, seen);
    return 0;
}
