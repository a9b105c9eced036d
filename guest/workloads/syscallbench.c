/*
 * syscallbench - measures what crossing into the kernel costs: one getpid system
 * call, one clock_gettime (the vDSO: no kernel entry at all) and one nanosleep of
 * 1 us (a system call plus a timer interrupt and a wake-up: the nearest a program
 * gets to timing one timer interrupt).
 *
 * usage: syscallbench [--ms MS]
 *   -t, --ms MS   time spent measuring each of the three (default 200)
 *
 * Output (averages over all iterations, ns per call):
 *   syscallbench getpid_ns=X clock_gettime_ns=Y nanosleep_ns=Z
 * X, Y, Z have one decimal. Exit status 0.
 */
#include "workload.h"
#include <getopt.h>
#include <sys/syscall.h>

/* Runs op in batches until budget_ns have passed; returns ns per call. */
static double measure(void (*op)(void), unsigned batch, uint64_t budget_ns)
{
    uint64_t calls = 0, start = now_ns(), now;
    do {
        for (unsigned i = 0; i < batch; i++)
            op();
        calls += batch;
        now = now_ns();
    } while (now - start < budget_ns);
    return (double)(now - start) / calls;
}

static void op_getpid(void)
{
    /* The raw call: some libcs cached getpid() in user space. */
    if (syscall(SYS_getpid) <= 0)
        die("getpid failed: %s", strerror(errno));
}

static void op_clock_gettime(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime failed: %s", strerror(errno));
}

static void op_nanosleep(void)
{
    struct timespec ts = { 0, 1000 };
    if (nanosleep(&ts, NULL) != 0)
        die("nanosleep failed: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    uint64_t ms = 200;
    static const struct option options[] = {
        { "ms", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "t:", options, NULL)) != -1) {
        switch (c) {
        case 't': ms = parse_u64("--ms", optarg, 600000); break;
        default: usage_error("unknown option");
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (ms == 0)
        usage_error("--ms must be at least 1");

    uint64_t budget = ms * 1000000ull;
    double getpid_ns = measure(op_getpid, 10, budget);
    double clock_ns_per_call = measure(op_clock_gettime, 1000, budget);
    double nanosleep_ns = measure(op_nanosleep, 1, budget);
    put_line("syscallbench getpid_ns=%.1f clock_gettime_ns=%.1f nanosleep_ns=%.1f",
             getpid_ns, clock_ns_per_call, nanosleep_ns);
    return 0;
}
