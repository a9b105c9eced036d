/*
 * clockcheck - checks that CLOCK_MONOTONIC never goes backwards and that nanosleep
 * never wakes early, while heartbeating so that the host can see pauses.
 *
 * usage: clockcheck [--seconds S] [--hb-ms MS] [--sleep-us US]
 *   -s, --seconds S    run time (default 5)
 *   -b, --hb-ms MS     heartbeat period (default 10)
 *   -u, --sleep-us US  nanosleep between batches of reads (default 1000; 0 = never sleep)
 *
 * It reads the clock in a tight loop (the vDSO, no system call) for about a
 * millisecond, then sleeps US microseconds, over and over.
 *
 * Output:
 *   HB <seq> <CLOCK_MONOTONIC ns> 0       every MS ms, seq from 1 (same format as memtouch)
 *   clockcheck BACKWARDS prev=<ns> now=<ns>      for the first few decreasing readings
 *   clockcheck SHORT-SLEEP asked-ns=<ns> slept-ns=<ns>   for the first few early wake-ups
 *   clockcheck ok reads=N max-step-ns=M backwards=0 sleeps=K max-sleep-ns=L short-sleeps=0
 *   clockcheck FAIL reads=N max-step-ns=M backwards=B sleeps=K max-sleep-ns=L short-sleeps=E
 * max-step-ns is the largest forward step between two readings of the tight loop
 * (a pause of the VM or a preemption shows here); max-sleep-ns the longest sleep.
 * Exit status 1 (the FAIL line) if a reading went backwards or a sleep ended early.
 */
#include "workload.h"
#include <getopt.h>

#define REPORT_LIMIT 5
#define BATCH_NS 1000000ull

int main(int argc, char **argv)
{
    set_prog(argv[0]);
    uint64_t seconds = 5, hb_ms = 10, sleep_us = 1000;
    static const struct option options[] = {
        { "seconds", required_argument, NULL, 's' },
        { "hb-ms", required_argument, NULL, 'b' },
        { "sleep-us", required_argument, NULL, 'u' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "s:b:u:", options, NULL)) != -1) {
        switch (c) {
        case 's': seconds = parse_u64("--seconds", optarg, 100000000); break;
        case 'b': hb_ms = parse_u64("--hb-ms", optarg, 60000); break;
        case 'u': sleep_us = parse_u64("--sleep-us", optarg, 10000000); break;
        default: usage_error("unknown option");
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (hb_ms == 0)
        usage_error("--hb-ms must be at least 1");

    const uint64_t hb_ns = hb_ms * 1000000ull, sleep_ns_asked = sleep_us * 1000;
    uint64_t reads = 0, backwards = 0, max_step = 0, sleeps = 0, max_sleep = 0, short_sleeps = 0;
    uint64_t seq = 1, start = now_ns(), prev = start;
    uint64_t end = start + seconds * NSEC_PER_SEC, next_hb = start + hb_ns;
    while (prev < end) {
        uint64_t batch_end = prev + BATCH_NS, now = prev;
        while (now < batch_end) {
            now = now_ns();
            reads++;
            if (now < prev) {
                if (backwards++ < REPORT_LIMIT)
                    put_line("clockcheck BACKWARDS prev=%" PRIu64 " now=%" PRIu64, prev, now);
            } else if (now - prev > max_step) {
                max_step = now - prev;
            }
            if (now >= next_hb) {
                put_line("HB %" PRIu64 " %" PRIu64 " 0", seq++, now);
                next_hb += hb_ns;
                if (next_hb <= now)
                    next_hb = now + hb_ns;
            }
            if (now > prev)
                prev = now;
        }
        if (sleep_ns_asked && now < end) {
            sleep_ns(sleep_ns_asked);
            uint64_t after = now_ns();
            uint64_t slept = after > now ? after - now : 0;
            sleeps++;
            if (slept > max_sleep)
                max_sleep = slept;
            if (slept < sleep_ns_asked && short_sleeps++ < REPORT_LIMIT)
                put_line("clockcheck SHORT-SLEEP asked-ns=%" PRIu64 " slept-ns=%" PRIu64,
                         sleep_ns_asked, slept);
            if (after < prev && backwards++ < REPORT_LIMIT)
                put_line("clockcheck BACKWARDS prev=%" PRIu64 " now=%" PRIu64, prev, after);
            if (after > prev)
                prev = after;
        }
    }
    int ok = backwards == 0 && short_sleeps == 0;
    put_line("clockcheck %s reads=%" PRIu64 " max-step-ns=%" PRIu64 " backwards=%" PRIu64
             " sleeps=%" PRIu64 " max-sleep-ns=%" PRIu64 " short-sleeps=%" PRIu64,
             ok ? "ok" : "FAIL", reads, max_step, backwards, sleeps, max_sleep, short_sleeps);
    return ok ? 0 : 1;
}
