#!/usr/bin/env python3
"""Live migration (pre-copy, or with --technique post-copy and hybrid), Ferry side by side with
QEMU in one run. Standard library only.

  precopy_bench.py --ferry BIN --guest DIR --peer QEMU_PEER_DIR [--runs 5] [--cases a,b]
                   [--technique precopy|postcopy|hybrid] [--sides ferry,qemu,qemu-preempt] [--rotate R]
                   [--out DIR] [--settle 3] [--post-wait 2] [--timeout 60]

With --technique postcopy or hybrid, QEMU runs its post-copy (postcopy-ram; hybrid: after 1 s
of pre-copy) and a second table gives the post-copy phase: faults, Ferry's fault latency as the
guest felt it, the window in which losing the source loses the VM, bytes per resident byte,
the time each vCPU was blocked on missing pages (Ferry's report; QEMU's postcopy-blocktime).

Sides (--sides): ferry; qemu, QEMU's post-copy with postcopy-ram alone; qemu-preempt, the same
with postcopy-preempt (page requests and replies on a channel of their own, as Ferry's fault
stream; post-copy and hybrid only). Default: ferry,qemu for precopy, ferry,qemu,qemu-preempt
otherwise. QEMU runs through bench/qemu_peer.py, which wraps the shared peer's mig.py (the
peer's run-migration.sh with the same options) and adds preempt, blocktime and CPU figures.

Both sides boot the same test guest (DIR/ferry-guest.elf, DIR/initrd.cpio) with 2 vCPUs, the
same workload and memory size, and migrate it over loopback with a 50 ms downtime limit and
the same bandwidth limit. Each side boots once per case and migrates the guest --runs times in
a row (A->B->C...), as the QEMU peer's run-migration.sh does with --repeat.

Figures per case and side (medians over the runs that moved a healthy guest):
  total     the migration's own total time (Ferry report.total_ms, QEMU total-time)
  downtime  the downtime it reports (Ferry report.downtime_ms, QEMU downtime)
  guest     guest-observed downtime: the largest gap between consecutive heartbeat lines as
            they reach the host (source console, then destination console) from the migrate
            command until --post-wait after its end, minus the largest gap in a baseline
            window (from 0.5 s after the settle began until the migrate command)
  bytes     bytes sent (Ferry report.bytes_transferred, QEMU ram transferred)
  CPU       the CPU cost of the migration to each VMM process, source and destination: user +
            system CPU time outside the vCPU threads (Ferry's vcpuN, QEMU's "CPU N/KVM"), from
            the migrate command until the migration completed (Ferry: `ferry migrate` returned,
            which a post-copy does once the destination has every page; QEMU: query-migrate
            showed it, polled every 0.1 s), the same way for both from /proc (bench/cpu_cost.py:
            the process's utime + stime minus its vCPU threads', before and after). Ferry's
            source also reports its own figure (report.vmm_cpu_ms), printed beside as a check.
Limits, measured here in the same run: loopback TCP (iperf3) and the rate of populating fresh
anonymous memory (1 GiB, one write per 4 KiB page, nothing else running). That rate falls
when other processes hold memory (on this host, a VM whose free pages go back to its own host,
3 GiB populated beside 3 GiB held ran at 0.26-0.64 GB/s against 1.5-1.9 GB/s alone), so before
each Ferry migration the same program also populates the workload's memory (the sum of its
--mb, at least 256 MiB) while the source VM holds its own: the destination's rate in the
conditions it meets. Ferry's throughput on non-zero pages is the guest bytes of the non-zero
pages its warm-up round moved (report.rounds[0].pages_sent x 4 KiB; with LZ4 more than went on
the wire) over that round's time, judged run by run against min(loopback TCP, that rate).

Progress goes to stderr; the Markdown tables to stdout; raw JSON lines into --out.
Every process is started here and ended here by its PID, also on errors and Ctrl-C.
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from cpu_cost import FERRY_VCPU, CpuMeter

HERE = os.path.dirname(os.path.abspath(__file__))
HB = re.compile(r'^HB (\d+) (\d+) (\d+)')
HB_REGEX = r'^HB (?P<seq>\d+) (?P<ns>\d+) (?P<pages>\d+)'
BAD = re.compile(r'ferry-guest: (panic|fault|out of memory)|memverify (FAIL|BAD)|workload exited')
GBIT = 1_000_000_000

# name -> (memory, workloads, args, ready lines, bandwidth in bit/s or None, label)
CASES = {
    'idle-1g': ('1G', 'memtouch', '--mb 1 --rate 0 --hb-ms 1', ['memtouch ready'], None,
                'idle, 1 GiB'),
    'idle-4g': ('4G', 'memtouch', '--mb 1 --rate 0 --hb-ms 1', ['memtouch ready'], None,
                'idle, 4 GiB'),
    'filled-4g': ('4G', 'memverify;memtouch', '--mb 3072 --mode idle --period-ms 3600000;--mb 1 --rate 0 --hb-ms 1',
                  ['memverify ready', 'memtouch ready'], None, '4 GiB, 3 GiB filled (memverify idle)'),
    'dirty-20k': ('1G', 'memtouch', '--mb 256 --rate 20000 --hb-ms 1', ['memtouch ready'], None,
                  'memtouch 256 MiB, 20k pages/s'),
    'dirty-200k': ('1G', 'memtouch', '--mb 256 --rate 200000 --threads 2 --hb-ms 1', ['memtouch ready'], None,
                   'memtouch 256 MiB, 200k pages/s, 2 threads'),
    'bw-1gbit': ('1G', 'memtouch', '--mb 256 --rate 20000 --hb-ms 1', ['memtouch ready'], GBIT,
                 'memtouch 20k pages/s, 1 Gbit/s limit'),
    # The guest dirties ~800 MB/s behind a 125 MB/s link: without slowing the guest no pre-copy
    # converges. Ferry runs with --auto-converge (and without LZ4, which would make the test
    # guest's nearly empty pages trivial); QEMU with its defaults. Not in the default set: QEMU
    # runs until --timeout every time (use --cases auto-converge --runs 3).
    'auto-converge': ('1G', 'memtouch', '--mb 256 --rate 200000 --threads 2 --hb-ms 1', ['memtouch ready'], GBIT,
                      'memtouch 200k pages/s, 1 Gbit/s limit; ferry --auto-converge --compress none'),
    # Post-copy's worst case: the whole working set is written from both vCPUs right after the
    # switchover, so nearly every page is fetched on a fault before the push gets to it.
    'fault-storm': ('1G', 'memtouch', '--mb 256 --rate max --threads 2 --pattern random --hb-ms 1', ['memtouch ready'], None,
                    'memtouch 256 MiB, max rate, random, 2 threads (fault storm)'),
}
FERRY_EXTRA = {'auto-converge': ['--auto-converge', '--compress', 'none']}
DEFAULT_CASES = [c for c in CASES if c not in ('auto-converge', 'fault-storm')]
# Ferry, and QEMU without and with postcopy-preempt (bench/qemu_peer.py --preempt).
SIDES = ('ferry', 'qemu', 'qemu-preempt')
# What the QEMU peer runs for each of Ferry's techniques: hybrid is pre-copy for a second, then post-copy.
QEMU_MODE = {'precopy': ['--mode', 'precopy'], 'postcopy': ['--mode', 'postcopy'],
             'hybrid': ['--mode', 'postcopy', '--postcopy-after', '1']}


def now():
    return time.monotonic()


def log(msg):
    print(f'# {msg}', file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes
LIVE = {}   # pid -> Popen, every process this script started and has not reaped


def spawn(cmd, **kw):
    # A session of its own: a Ctrl-C on the terminal reaches only this script, which then
    # ends its children itself, in order.
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    LIVE[p.pid] = p
    return p


def children_of(pid):
    kids = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat') as f:
                    stat = f.read()
                if int(stat[stat.rindex(')') + 2:].split()[1]) == pid:
                    kids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def end(p, first=signal.SIGTERM, grace=5.0):
    """End one process we started: `first`, then SIGKILL after `grace` s. By PID only."""
    try:
        if p.poll() is None:
            kids = children_of(p.pid)
            p.send_signal(first)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                for k in kids:   # e.g. QEMUs of a peer that did not get to stop them
                    try:
                        os.kill(k, signal.SIGKILL)
                    except OSError:
                        pass
    finally:
        LIVE.pop(p.pid, None)


def end_all():
    for p in list(LIVE.values()):
        # The QEMU peer (python) stops its own QEMUs when interrupted.
        end(p, signal.SIGINT if getattr(p, 'is_peer', False) else signal.SIGTERM, 10.0)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- console
class Console:
    """Reads a guest console from a pipe; stamps each line with time.monotonic() when its
    newline arrives (lines arriving in one read share the stamp)."""

    def __init__(self, stream, log_path):
        self.stream = stream
        self.lines = []       # (t, text)
        self.hb = []          # (t, seq, guest ns, pages)
        self.cond = threading.Condition()
        self.log_path = log_path
        self.log = open(log_path, 'w', buffering=1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        fd, buf = self.stream.fileno(), b''
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            t = now()
            buf += data
            *complete, buf = buf.split(b'\n')
            with self.cond:
                for raw in complete:
                    text = raw.decode('utf-8', 'replace').rstrip('\r')
                    self.lines.append((t, text))
                    self.log.write(f'{t:.6f} {text}\n')
                    m = HB.match(text)
                    if m:
                        self.hb.append((t, int(m.group(1)), int(m.group(2)), int(m.group(3))))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, patterns, timeout):
        deadline = now() + timeout
        with self.cond:
            while True:
                if all(any(p in x for _, x in self.lines) for p in patterns):
                    return True
                left = deadline - now()
                if left <= 0 or not self.thread.is_alive():
                    return False
                self.cond.wait(min(left, 0.5))

    def bad(self):
        return [x for _, x in self.lines if BAD.search(x)]


def guest_observed(a, logs, baseline_from, t_from, t_end, t_to):
    """The guest-observed figures of one migration from the consoles' logs (`SECONDS TEXT` lines),
    by Ferry's one definition of them (`ferry heartbeats`, the code `ferry compare` measures with):
    the longest heartbeat gap in [t_from, t_to] (the last heartbeat before t_from opens it), the
    longest in [baseline_from, t_from] (the noise floor), their difference, and the workload's
    pages per second before and during [t_from, t_end]."""
    cmd = [a.ferry, 'heartbeats', *logs, '--baseline-from', f'{baseline_from:.6f}', '--from', f'{t_from:.6f}',
           '--end', f'{t_end:.6f}', '--to', f'{t_to:.6f}']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f'ferry heartbeats failed: {r.stderr.strip()}')
    return json.loads(r.stdout)


# --------------------------------------------------------------------------- limits
POPULATE_C = r'''
/* Fresh anonymous memory, one write per 4 KiB page (the kernel zeroes and maps each page).
   argv[1] = 1: ask for transparent huge pages; argv[2]: MiB (default 1024). Prints bytes per second. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
int main(int argc, char **argv) {
    size_t n = (argc > 2 ? (size_t)atol(argv[2]) : 1024) << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    if (argc > 1 && atoi(argv[1]) == 1) madvise(p, n, MADV_HUGEPAGE);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t o = 0; o < n; o += 4096) ((volatile long *)(p + o))[0] = (long)o + 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.0f\n", n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9));
    return 0;
}
'''


def measure_limits(a):
    d = os.path.join(a.out, 'limits')
    os.makedirs(d, exist_ok=True)
    src, exe = os.path.join(d, 'populate.c'), os.path.join(d, 'populate')
    with open(src, 'w') as f:
        f.write(POPULATE_C)
    subprocess.run(['gcc', '-O2', '-o', exe, src], check=True)
    a.populate = exe
    pop = {}
    for thp in (0, 1):
        vals = []
        for _ in range(3):
            p = spawn([exe, str(thp)], stdout=subprocess.PIPE, text=True)
            out, _ = p.communicate(timeout=120)
            LIVE.pop(p.pid, None)
            vals.append(float(out))
        pop[thp] = statistics.median(vals)
    port = free_port()
    server = spawn(['iperf3', '-s', '-1', '-p', str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        c = subprocess.run(['iperf3', '-c', '127.0.0.1', '-p', str(port), '-t', '3', '-J'],
                           capture_output=True, text=True, timeout=60)
        tcp = json.loads(c.stdout)['end']['sum_received']['bits_per_second'] / 8
        server.wait(10)
    finally:
        end(server)
    res = {'kind': 'limits', 'loopback_tcp_Bps': round(tcp), 'populate_4k_Bps': round(pop[0]),
           'populate_thp_Bps': round(pop[1])}
    res['limit_Bps'] = min(res['loopback_tcp_Bps'], res['populate_4k_Bps'])
    return res


# --------------------------------------------------------------------------- Ferry
class FerryProc:
    def __init__(self, a, cmd, name, tag):
        self.name = name
        self.errpath = os.path.join(a.casedir, f'{tag}.stderr')
        self.err = open(self.errpath, 'w')
        self.p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err)
        self.console = Console(self.p.stdout, os.path.join(a.casedir, f'{tag}.console.log'))

    def stderr_has(self, text, timeout):
        deadline = now() + timeout
        while now() < deadline:
            with open(self.errpath) as f:
                if text in f.read():
                    return True
            if self.p.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def stop(self, a):
        if self.p.poll() is None:
            subprocess.run([a.ferry, 'stop', '--name', self.name], capture_output=True, timeout=30)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        end(self.p)
        self.err.close()


def workload_mib(args):
    return max(256, sum(int(m) for m in re.findall(r'--mb (\d+)', args)))


def populate_beside(a, mib):
    """Bytes/s of populating `mib` MiB of fresh memory now (the source VM holding its own)."""
    p = spawn([a.populate, '0', str(mib)], stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=300)
    LIVE.pop(p.pid, None)
    return float(out)


def ferry_case(a, case):
    mem, workloads, args, ready, bw, _ = CASES[case]
    g = a.guest
    tag = f'{case}-{os.getpid()}'
    vm = FerryProc(a, [a.ferry, 'run', '--kernel', f'{g}/ferry-guest.elf', '--initrd', f'{g}/initrd.cpio',
                       '--memory', mem, '--cpus', '2', '--name', f'{tag}-0', '--console', 'stdio',
                       '--cmdline', f'ferry.workload={workloads} ferry.args="{args}"'],
                   f'{tag}-0', 'ferry-00-src')
    live = [vm]
    results = []
    try:
        t_boot = now()
        if not vm.console.wait_for(ready, a.boot_timeout):
            raise RuntimeError(f'ferry: guest not ready after {now() - t_boot:.0f} s (see {a.casedir})')
        log(f'ferry {case}: guest ready after {now() - t_boot:.1f} s')
        for i in range(1, a.runs + 1):
            port = free_port()
            dst = FerryProc(a, [a.ferry, 'receive', '--listen', f'127.0.0.1:{port}', '--name', f'{tag}-{i}',
                                '--console', 'stdio'], f'{tag}-{i}', f'ferry-{i:02d}-dst')
            live.append(dst)
            if not dst.stderr_has('waiting for a migration', 30):
                raise RuntimeError(f'ferry receive did not start (see {dst.errpath})')
            pop_Bps = populate_beside(a, workload_mib(args))
            t_settle = now()
            time.sleep(a.settle)
            cmd = [a.ferry, 'migrate', '--name', vm.name, '--to', f'127.0.0.1:{port}', '--mode', a.technique,
                   '--max-downtime', '50ms', '--timeout', f'{a.timeout:g}s', '--json']
            if a.technique == 'precopy':
                # Like QEMU: never abort for a missed downtime target, and an unthrottled final copy.
                cmd += ['--on-no-converge', 'force']
            if bw:
                cmd += ['--bandwidth', f'{bw // 1_000_000}Mbit', '--switchover-bandwidth', 'unlimited']
            cmd += FERRY_EXTRA.get(case, [])
            # The migration runs inside the two VMM processes (`ferry migrate` only asks the source's
            # control API and waits): their CPU outside the vCPU threads over the migration. The
            # source may have exited by the end sample; it stays unreaped (a zombie) until vm.stop.
            meters = [CpuMeter(vm.p.pid, FERRY_VCPU), CpuMeter(dst.p.pid, FERRY_VCPU)]
            for m in meters:
                m.start()
            t0 = now()
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout + 120)
                rc, out, err = r.returncode, r.stdout, r.stderr
            except subprocess.TimeoutExpired as e:
                rc, out, err = 'timeout', e.stdout or '', e.stderr or ''
                out, err = (x.decode() if isinstance(x, bytes) else x for x in (out, err))
            t_end = now()
            for m in meters:
                m.stop()
            with open(os.path.join(a.casedir, f'ferry-{i:02d}-migrate.out'), 'w') as f:
                f.write(' '.join(cmd) + f'\nrc={rc}\n--- stdout\n{out}\n--- stderr\n{err}\n')
            time.sleep(a.post_wait)
            try:
                j = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
            except ValueError:
                j = {}
            rep = j.get('report') or {}
            reported = rc == 0 and j.get('phase') == 'completed'
            # Judge where the guest runs by what it prints, not only by what `ferry migrate`
            # says: heartbeats on the destination's console after the migrate command began.
            dst_runs = any(h[0] >= t0 for h in dst.console.hb)
            moved = reported or dst_runs
            seen = guest_observed(a, [vm.console.log_path] + ([dst.console.log_path] if moved else []),
                                  t_settle + 0.5, t0, t_end, now())
            rounds = rep.get('rounds') or []
            w0 = rounds[0] if rounds else {}
            res = {'kind': 'run', 'side': 'ferry', 'case': case, 'run': i, 'rc': rc,
                   'phase': j.get('phase'), 'moved': moved, 'reported_moved': reported,
                   'src_process_alive': vm.p.poll() is None,
                   'host_wall_ms': round((t_end - t0) * 1000, 1),
                   'total_ms': rep.get('total_ms'), 'downtime_ms': rep.get('downtime_ms'),
                   'bytes': rep.get('bytes_transferred'), 'pages_sent': rep.get('pages_sent'),
                   'zero_pages_skipped': rep.get('zero_pages_skipped'),
                   'untouched_pages_skipped': rep.get('untouched_pages_skipped'),
                   'setup_ms': rep.get('setup_ms'), 'throughput_Bps': rep.get('throughput_bytes_per_second'),
                   'source_vmm_cpu_ms': rep.get('vmm_cpu_ms'),
                   'cpu_span_ms': round((t_end - t0) * 1000, 1),
                   'switchover_reason': rep.get('switchover_reason'), 'n_rounds': len(rounds),
                   'warmup_bytes': w0.get('bytes_sent'), 'warmup_ms': w0.get('duration_ms'),
                   # guest bytes of the non-zero pages it moved (with LZ4, far more than went on the wire)
                   'warmup_Bps': (w0['pages_sent'] * 4096 / (w0['duration_ms'] / 1000)
                                  if w0.get('duration_ms') else None),
                   'warmup_wire_Bps': (w0['bytes_sent'] / (w0['duration_ms'] / 1000)
                                       if w0.get('duration_ms') else None),
                   'populate_beside_Bps': round(pop_Bps),
                   'guest_gap_ms': seen.get('longest_gap_ms'),
                   'guest_gap_at_s': seen.get('longest_gap_at_seconds'),
                   'baseline_gap_ms': seen.get('baseline_gap_ms'),
                   'guest_downtime_ms': seen.get('downtime_ms'),
                   'achieved_rate_pages_s': (round(seen['pages_per_second_before'])
                                             if seen.get('pages_per_second_before') is not None else None),
                   't0_monotonic': round(t0, 6), 'settle_from_monotonic': round(t_settle, 6),
                   'message': j.get('message') or (err.strip().splitlines() or [''])[-1][:300],
                   'rounds': rounds,
                   'report_other': {k: v for k, v in rep.items() if k not in ('rounds',)}}
            for side, m in zip(('src', 'dst'), meters):
                f = m.figures()
                res.update({f'{side}_cpu_ms': f['cpu_ms'], f'{side}_vcpu_ms': f.get('vcpu_ms'),
                            f'{side}_cpu_threads_ms': f.get('threads_ms'),
                            f'{side}_vcpu_threads_ended': f.get('vcpu_threads_ended'), f'{side}_exited': f.get('exited')})
            res['cpu_ms'] = cpu_sum(res)
            pc = rep.get('post_copy') or {}
            if pc:
                res.update({'pc_faults': pc.get('faults'), 'pc_requested': pc.get('pages_requested'),
                            'pc_pushed': pc.get('pages_pushed'), 'pc_pages': pc.get('pages_at_switchover'),
                            'pc_p50_us': pc.get('fault_latency_p50_us'), 'pc_p99_us': pc.get('fault_latency_p99_us'),
                            'pc_max_us': pc.get('fault_latency_max_us'), 'pc_window_ms': pc.get('window_ms'),
                            'pc_blocked': {b['thread']: b['blocked_ms'] for b in pc.get('blocked_time') or []},
                            # every byte sent over what the source held at the switchover (plus what earlier rounds sent)
                            'bytes_per_resident_byte': (rep['bytes_transferred'] / ((pc['pages_at_switchover'] + sum(x['pages_sent'] for x in rounds)) * 4096)
                                                        if pc.get('pages_at_switchover') else None)})
            src_hb = [h for h in vm.console.hb if h[0] >= t0 - 1]
            res['precopy_max_gap_ms'] = (guest_observed(a, [vm.console.log_path], t0 - 1, t0, src_hb[-1][0], src_hb[-1][0])
                                         .get('longest_gap_ms') if src_hb else None)
            if moved and vm.console.hb and dst.console.hb:
                last, first = vm.console.hb[-1], dst.console.hb[0]
                res['switchover_hb_gap_ms'] = round((first[0] - last[0]) * 1000, 1)
                res['switchover_guest_clock_gap_ms'] = round((first[2] - last[2]) / 1e6, 1)
                res['switchover_hb_seq_lost'] = first[1] - last[1] - 1
            if moved:
                bad = dst.console.bad()
                res['dst_guest_ok'] = not bad and bool(dst.console.hb)
                if bad:
                    res['dst_guest_error'] = bad[0][:200]
                try:
                    vm.p.wait(15)      # the source exits once the guest runs there
                except subprocess.TimeoutExpired:
                    res['source_did_not_exit'] = True
                vm.stop(a)
                live.remove(vm)
                vm = dst
            else:
                res['dst_guest_ok'] = None
                dst.stop(a)
                live.remove(dst)
            res['ok'] = bool(reported and moved and res['dst_guest_ok'])
            if moved != reported:
                res['misreported'] = (f"`ferry migrate` said rc={rc} phase={j.get('phase')} but the guest "
                                      f"{'runs at the destination' if moved else 'did not move'}")
            results.append(res)
            log(f'ferry {case} run {i}: ' + (
                f"total {res['total_ms']:.0f} ms, downtime {res['downtime_ms']:.1f} ms, guest {res['guest_downtime_ms']} ms, "
                f"{res['bytes'] / 2**20:.1f} MiB, {res['n_rounds']} rounds"
                if reported else f"NOT MOVED rc={rc}: {res['message']}") +
                (f" [{res['misreported']}]" if 'misreported' in res else '') +
                ('' if res['ok'] or not reported else f" GUEST NOT OK: {res.get('dst_guest_error')}"))
            if vm.p.poll() is not None:
                log(f'ferry {case}: the VM process exited (rc {vm.p.returncode}); no more runs for this case (see {a.casedir})')
                break
    finally:
        for x in live:
            x.stop(a)
    return results


# --------------------------------------------------------------------------- QEMU
def qemu_case(a, case, side):
    """side: qemu (postcopy-ram alone in post-copy) or qemu-preempt (with postcopy-preempt)."""
    mem, workloads, args, ready, bw, _ = CASES[case]
    g = a.guest
    out = os.path.join(a.casedir, side)
    os.makedirs(out, exist_ok=True)
    # The peer's run-migration.sh, through bench/qemu_peer.py: the same options, and its own.
    extra = ['--cpu-cost'] + (['--blocktime'] if a.technique != 'precopy' else []) + \
        (['--preempt'] if side == 'qemu-preempt' else [])
    cmd = [sys.executable, os.path.join(HERE, 'qemu_peer.py'), '--peer', a.peer, *extra,
           *QEMU_MODE[a.technique], '--repeat', str(a.runs),
           '--mem', mem, '--cpus', '2', '--kernel', f'{g}/ferry-guest.elf', '--initrd', f'{g}/initrd.cpio',
           '--base-append', f'console=ttyS0 ferry.workload={workloads} ferry.args="{args}"',
           # memverify's fill is the slow part, and run-migration.sh waits for one regex
           '--ready', ready[0], '--hb-regex', HB_REGEX, '--downtime-ms', '50',
           '--bandwidth', repr(bw / 8 / 2**20) if bw else 'unlimited',
           '--timeout', f'{a.timeout:g}', '--settle', f'{a.settle:g}', '--post-wait', f'{a.post_wait:g}',
           '--boot-timeout', f'{a.boot_timeout:g}', '--out', out]
    with open(os.path.join(a.casedir, f'{side}-command'), 'w') as f:
        f.write(' '.join(cmd) + '\n')
    env = dict(os.environ, SKIP_APT='1', WORK=out)
    err = open(os.path.join(a.casedir, f'{side}-peer.stderr'), 'w')
    p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    p.is_peer = True
    t_start = now()
    budget = a.boot_timeout + a.runs * (a.settle + a.timeout + a.post_wait + 30)
    results = []
    try:
        watchdog = threading.Timer(budget, lambda: p.poll() is None and p.send_signal(signal.SIGINT))
        watchdog.daemon = True
        watchdog.start()
        for line in p.stdout:
            try:
                q = json.loads(line)
            except ValueError:
                continue
            results.append(qemu_result(case, side, q))
            r = results[-1]
            log(f"{side} {case} run {r['run']}: " + (
                f"total {r['total_ms']} ms, downtime {r['downtime_ms']} ms, guest {r['guest_downtime_ms']} ms, "
                f"{(r['bytes'] or 0) / 2**20:.1f} MiB, CPU outside vCPUs src {r['src_cpu_ms']} / dst {r['dst_cpu_ms']} ms"
                if r['moved'] else
                f"NOT MOVED status={r['status']} {r.get('error') or ''}") +
                ('' if r['ok'] or not r['moved'] else ' GUEST NOT OK'))
        p.wait()
        watchdog.cancel()
        if p.returncode != 0:
            err.flush()
            tail = open(err.name).read().strip().splitlines()[-3:]
            log(f'{side} {case}: qemu_peer.py exited {p.returncode} after {now() - t_start:.0f} s: {" | ".join(tail)}')
    finally:
        end(p, signal.SIGINT, 15.0)
        err.close()
    return results


def qemu_result(case, side, q):
    gd, base = q.get('guest_downtime_ms'), q.get('baseline_max_hb_gap_ms')
    moved = q.get('status') == 'completed'
    res = {'kind': 'run', 'side': side, 'case': case, 'run': q.get('run'), 'status': q.get('status'),
           'moved': moved, 'ok': bool(moved and q.get('dst_guest_ok')),
           'host_wall_ms': q.get('host_wall_ms'),
           'total_ms': q.get('total_time_ms'), 'downtime_ms': q.get('downtime_ms'),
           'bytes': q.get('ram_transferred'),
           'guest_gap_ms': gd, 'baseline_gap_ms': base,
           'guest_downtime_ms': round(gd - base, 1) if gd is not None and base is not None else None,
           'switchover_hb_gap_ms': q.get('switchover_hb_gap_ms'),
           'pc_requested': q.get('postcopy_requests'),
           'pc_preempt': q.get('postcopy_preempt'),
           'pc_blocktime_ms': q.get('postcopy_blocktime_ms'),
           'pc_blocked': {f'vcpu{i}': ms for i, ms in enumerate(q.get('postcopy_vcpu_blocktime_ms') or [])},
           'src_cpu_ms': q.get('src_cpu_ms'), 'dst_cpu_ms': q.get('dst_cpu_ms'), 'cpu_span_ms': q.get('cpu_span_ms'),
           'mbps': q.get('mbps'), 'error': q.get('error'), 'peer': q}
    res['cpu_ms'] = cpu_sum(res)
    return res


def cpu_sum(r):
    """Source + destination CPU outside the vCPU threads, ms (None unless both were measured)."""
    return None if r.get('src_cpu_ms') is None or r.get('dst_cpu_ms') is None else round(r['src_cpu_ms'] + r['dst_cpu_ms'], 1)


# --------------------------------------------------------------------------- summary
FIGURES = (('total_ms', 'total ms', 1), ('downtime_ms', 'downtime ms', 1),
           ('guest_downtime_ms', 'guest-observed downtime ms', 1), ('bytes', 'MiB sent', 2**20))


def med(runs, key):
    v = [r[key] for r in runs if r.get('ok') and r.get(key) is not None]
    return statistics.median(v) if v else None


def fmt(x, nd=1):
    return '—' if x is None else f'{x:,.{nd}f}'


def ratio(f, q):
    return '—' if f is None or q is None or q <= 0 or f < 0 else f'{f / q:.2f}'


def scaled(x, div):
    return None if x is None else x / div


def versus(runs, key, qsides, div=1, nd=1):
    """Cells ' ferry | q | ferry/q |' (one q and ratio per QEMU side) of one figure's medians."""
    f = scaled(med(runs.get('ferry', []), key), div)
    cells = [fmt(f, nd)]
    for s in qsides:
        q = scaled(med(runs[s], key), div)
        cells += [fmt(q, nd), ratio(f, q)]
    return ' ' + ' | '.join(cells) + ' |'


def versus_head(label, qsides):
    """The header cells and separator of versus()."""
    return (f' {label}: ferry |' + ''.join(f' {s} | ferry/{s} |' for s in qsides),
            '---:|' * (1 + 2 * len(qsides)))


def blocked_ms(runs, vcpus=True):
    """'vcpu0 a, vcpu1 b': each vCPU's median blocked ms over the healthy runs (vcpus=False: the
    other threads', e.g. Ferry's "kernel worker", KVM's own page-in threads)."""
    blocked = {}
    for r in runs:
        if r.get('ok'):
            for t, ms in (r.get('pc_blocked') or {}).items():
                if bool(re.match(r'vcpu\d+$', t)) == vcpus and ms is not None:
                    blocked.setdefault(t, []).append(ms)
    return ', '.join(f'{t} {statistics.median(v):.1f}' for t, v in sorted(blocked.items())) or '—'


def summarize(a, limits, by_case):
    qsides = [s for s in a.sides if s != 'ferry']
    lim = limits['limit_Bps']
    rotation = f' ({a.rotate} rounds, the sides in turn first)' if a.rotate > 1 else ''
    lines = [f"Loopback TCP (iperf3) {limits['loopback_tcp_Bps'] / 1e6:,.0f} MB/s, populating fresh memory "
             f"{limits['populate_4k_Bps'] / 1e6:,.0f} MB/s (4 KiB pages; {limits['populate_thp_Bps'] / 1e6:,.0f} MB/s with THP); "
             f"limit = min = {lim / 1e6:,.0f} MB/s. Technique {a.technique}. Medians of {a.runs * a.rotate} runs per side{rotation}; 2 vCPUs, 50 ms downtime limit. "
             f"guest-observed = largest heartbeat gap during the migration minus the largest in the baseline window."
             + (" qemu-preempt = QEMU with postcopy-preempt beside postcopy-ram." if 'qemu-preempt' in qsides else ''), '']
    head = f'| case | ok {" / ".join(a.sides)} |'
    sep = '|---|---|'
    for _, label, _ in FIGURES:
        h, s = versus_head(label, qsides)
        head, sep = head + h, sep + s
    lines += [head, sep]
    for case, runs in by_case.items():
        row = f'| {CASES[case][5]} | ' + ' vs '.join(f'{sum(r["ok"] for r in runs[s])}/{len(runs[s])}' for s in a.sides) + ' |'
        for key, _, div in FIGURES:
            row += versus(runs, key, qsides, div)
        lines.append(row)
    lines += ['', '| case | ferry warm-up round MB/s (non-zero pages) | populating the workload\'s MiB beside the source VM, MB/s '
              '| ferry/min(TCP, that), median of the runs\' own ratios | ferry/(limit measured alone) | ferry rounds |'
              + ''.join(f' {s} mbps (whole migration) |' for s in qsides),
              '|---|---:|---:|---:|---:|---:|' + '---:|' * len(qsides)]
    for case, runs in by_case.items():
        fr = runs.get('ferry', [])
        bw = CASES[case][4]
        cap = [bw / 8] if bw else []
        # Each run against the population rate measured just before it: that rate swings 3x between runs.
        for r in fr:
            if r.get('warmup_Bps') and r.get('populate_beside_Bps'):
                r['warmup_vs_limit'] = r['warmup_Bps'] / min([limits['loopback_tcp_Bps'], r['populate_beside_Bps']] + cap)
        alone = min([lim] + cap)
        w, pop, q = med(fr, 'warmup_Bps'), med(fr, 'populate_beside_Bps'), med(fr, 'warmup_vs_limit')
        lines.append(f'| {CASES[case][5]} | {fmt(w and w / 1e6, 0)} | {fmt(pop and pop / 1e6, 0)}{" (cap 125)" if bw else ""} | '
                     f'{"—" if q is None else f"{q:.2f}"} | {"—" if w is None else f"{w / alone:.2f}"} | '
                     f'{fmt(med(fr, "n_rounds"), 0)} |' + ''.join(f' {fmt(med(runs[s], "mbps"), 0)} |' for s in qsides))
    h, s = versus_head('switch-over heartbeat gap ms (last source HB to first destination HB)', qsides)
    lines += ['', '| case |' + h + ' runs whose largest gap was not at the switch-over:'
              + ''.join(f' {x} |' for x in a.sides) + ' ferry largest gap before the switch-over ms |',
              '|---|' + s + '---:|' * (len(a.sides) + 1)]
    for case, runs in by_case.items():
        elsewhere = lambda rs: sum(1 for r in rs if r['ok'] and r.get('switchover_hb_gap_ms') is not None
                                   and r['guest_gap_ms'] > r['switchover_hb_gap_ms'] + 0.05)
        lines.append(f'| {CASES[case][5]} |' + versus(runs, 'switchover_hb_gap_ms', qsides)
                     + ''.join(f' {elsewhere(runs[x])}/{len(runs[x])} |' for x in a.sides)
                     + f' {fmt(med(runs.get("ferry", []), "precopy_max_gap_ms"))} |')
    if a.technique != 'precopy':
        lines += ['', f'Post-copy phase ({a.technique}); blocked ms per vCPU: ferry from its report (post_copy.blocked_time; '
                  'its other threads beside: "kernel worker" is KVM paging in for a vCPU, which QEMU does not count), '
                  'QEMU from the destination\'s postcopy-vcpu-blocktime (whole ms, vCPU threads\' faults only); '
                  'QEMU all-vCPUs = postcopy-blocktime, the time every vCPU was blocked at once:', '',
                  '| case | ferry faults | ferry pages requested |' + ''.join(f' {s} postcopy requests |' for s in qsides)
                  + ' ferry fault latency p50 / p99 / max µs | ferry window ms (source loss = VM loss) | ferry bytes / resident bytes '
                  '| ferry blocked ms per vCPU | ferry blocked ms, other threads |'
                  + ''.join(f' {s} blocked ms per vCPU | {s} all vCPUs blocked ms |' for s in qsides),
                  '|---|---:|---:|' + '---:|' * len(qsides) + '---:|---:|---:|---|---|' + '---|---:|' * len(qsides)]
        for case, runs in by_case.items():
            fr = runs.get('ferry', [])
            lines.append(f"| {CASES[case][5]} | {fmt(med(fr, 'pc_faults'), 0)} | {fmt(med(fr, 'pc_requested'), 0)} |"
                         + ''.join(f" {fmt(med(runs[s], 'pc_requested'), 0)} |" for s in qsides)
                         + f" {fmt(med(fr, 'pc_p50_us'), 0)} / {fmt(med(fr, 'pc_p99_us'), 0)} / {fmt(med(fr, 'pc_max_us'), 0)} | "
                         f"{fmt(med(fr, 'pc_window_ms'))} | {fmt(med(fr, 'bytes_per_resident_byte'), 3)} | {blocked_ms(fr)} | "
                         f"{blocked_ms(fr, vcpus=False)} |"
                         + ''.join(f" {blocked_ms(runs[s])} | {fmt(med(runs[s], 'pc_blocktime_ms'))} |" for s in qsides))
    # CPU cost, every technique: the same /proc measure for both VMMs (bench/cpu_cost.py).
    heads = [versus_head(f'{what} CPU ms', qsides) for what in ('source', 'destination', 'source + destination')]
    lines += ['', 'CPU cost of the migration: user + system CPU ms of each VMM process outside its vCPU threads, '
              'from the migrate command until the migration completed (every page at the destination), from /proc; '
              'the ferry source\'s own report (vmm_cpu_ms) beside as a check; the span those figures cover:', '',
              '| case |' + ''.join(h for h, _ in heads) + ' ferry source, its report (vmm_cpu_ms) | span ms:'
              + ''.join(f' {x} |' for x in a.sides),
              '|---|' + ''.join(s for _, s in heads) + '---:|' + '---:|' * len(a.sides)]
    for case, runs in by_case.items():
        lines.append(f'| {CASES[case][5]} |' + ''.join(versus(runs, key, qsides, nd=0) for key in ('src_cpu_ms', 'dst_cpu_ms', 'cpu_ms'))
                     + f" {fmt(med(runs.get('ferry', []), 'source_vmm_cpu_ms'), 0)} |"
                     + ''.join(f" {fmt(med(runs[x], 'cpu_span_ms'), 0)} |" for x in a.sides))
    notes = []
    for case, runs in by_case.items():
        fr = runs.get('ferry', [])
        for r in [r for x in a.sides for r in runs[x]]:
            if not r['ok']:
                why = (r.get('message') if r['side'] == 'ferry' else r.get('error') or r.get('status'))
                if r.get('misreported'):
                    why = r['misreported'] + f" (message: {r.get('message')})"
                elif r['moved']:
                    why = f"guest not healthy at the destination: {r.get('dst_guest_error', 'no heartbeat')}"
                notes.append(f"- {r['side']} {case} run {r['run']}: {why}")
        reasons = sorted({r.get('switchover_reason', '').split(':')[0] for r in fr if r.get('switchover_reason')})
        if reasons:
            notes.append(f"- ferry {case} switch-over: {', '.join(reasons)}")
        exited = sum(1 for r in fr if r.get('src_exited'))
        ended = sum(1 for r in fr if r.get('src_vcpu_threads_ended'))
        if ended:
            notes.append(f"- ferry {case} CPU: the source's vCPU threads had ended by the end sample in {ended}/{len(fr)} runs "
                         "(their last values come from a 20 ms poll, bench/cpu_cost.py)")
        if exited:
            notes.append(f"- ferry {case} CPU: the source had exited by the end sample in {exited}/{len(fr)} runs: "
                         "its figure includes its exit, its report's vmm_cpu_ms does not")
        unpre = sum(1 for r in runs.get('qemu-preempt', []) if r['ok'] and not r.get('pc_preempt'))
        if unpre:
            notes.append(f"- qemu-preempt {case}: {unpre} runs without postcopy-preempt on both QEMUs")
    if notes:
        lines += ['', 'Notes:'] + notes
    return '\n'.join(lines)


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ferry', required=True)
    ap.add_argument('--guest', required=True, help='directory with ferry-guest.elf and initrd.cpio')
    ap.add_argument('--peer', required=True, help='the QEMU peer directory (its mig.py, run through bench/qemu_peer.py)')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--cases', default=','.join(DEFAULT_CASES), help=f'comma list of: {", ".join(CASES)} (default: all but auto-converge)')
    ap.add_argument('--out', default=None, help='directory for the raw results (default: a new /tmp dir)')
    ap.add_argument('--settle', type=float, default=3.0, help='workload seconds before each migration')
    ap.add_argument('--post-wait', type=float, default=2.0, help='seconds of heartbeats kept after each')
    ap.add_argument('--timeout', type=float, default=60.0, help='give up a migration after this (s)')
    ap.add_argument('--boot-timeout', type=float, default=300.0)
    ap.add_argument('--sides', default=None,
                    help=f'comma list of: {", ".join(SIDES)} (default: ferry,qemu for precopy, all three otherwise)')
    ap.add_argument('--rotate', type=int, default=1,
                    help='rounds of every side, the order turned by one each round (--runs migrations a side per round)')
    ap.add_argument('--technique', default='precopy', choices=['precopy', 'postcopy', 'hybrid'],
                    help="ferry's --mode; QEMU runs the same (hybrid: QEMU's post-copy after 1 s of pre-copy)")
    a = ap.parse_args()
    cases = [c for c in a.cases.split(',') if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f'unknown case(s) {unknown}; known: {", ".join(CASES)}')
    a.sides = [x for x in (a.sides or ('ferry,qemu' if a.technique == 'precopy' else ','.join(SIDES))).split(',') if x]
    unknown = [x for x in a.sides if x not in SIDES]
    if unknown:
        ap.error(f'unknown side(s) {unknown}; known: {", ".join(SIDES)}')
    if a.technique == 'precopy' and 'qemu-preempt' in a.sides:
        ap.error('qemu-preempt is a post-copy capability: use it with --technique postcopy or hybrid')
    a.out = a.out or tempfile.mkdtemp(prefix='ferry-precopy-', dir='/tmp')
    os.makedirs(a.out, exist_ok=True)
    os.environ.setdefault('FERRY_RUN_DIR', os.path.join(a.out, 'run'))

    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    raw = open(os.path.join(a.out, 'runs.jsonl'), 'a', buffering=1)
    t_all = now()
    try:
        log('measuring limits: memory population and loopback TCP')
        limits = measure_limits(a)
        raw.write(json.dumps(limits) + '\n')
        log(f"limits: tcp {limits['loopback_tcp_Bps'] / 1e6:,.0f} MB/s, populate {limits['populate_4k_Bps'] / 1e6:,.0f} MB/s "
            f"(THP {limits['populate_thp_Bps'] / 1e6:,.0f} MB/s)")
        by_case = {}
        for case in cases:
            by_case[case] = {side: [] for side in a.sides}
            # --rotate R: R rounds, the sides' order turned by one each round, so that no side is
            # always the first to run on a freshly quiet machine (the first side of a case ran
            # measurably slower or faster than the next in filled-4g).
            for rnd in range(a.rotate):
                k = rnd % len(a.sides)
                order = a.sides[k:] + a.sides[:k]
                a.casedir = os.path.join(a.out, case if a.rotate == 1 else f'{case}-round{rnd + 1}')
                os.makedirs(a.casedir, exist_ok=True)
                for position, side in enumerate(order):
                    t = now()
                    try:
                        rs = ferry_case(a, case) if side == 'ferry' else qemu_case(a, case, side)
                    except RuntimeError as e:
                        log(f'{side} {case}: {e}')
                        rs = []
                    for r in rs:
                        r['round'], r['position'] = rnd + 1, position + 1
                        raw.write(json.dumps(r) + '\n')
                    by_case[case][side].extend(rs)
                    log(f'{side} {case}{f" round {rnd + 1}" if a.rotate > 1 else ""}: {len(rs)} runs in {now() - t:.0f} s '
                        f'(elapsed {(now() - t_all) / 60:.1f} min)')
        table = summarize(a, limits, by_case)
        with open(os.path.join(a.out, 'summary.md'), 'w') as f:
            f.write(table + '\n')
        print(table)
        log(f'raw results in {a.out} ({(now() - t_all) / 60:.1f} min)')
    except KeyboardInterrupt:
        log('interrupted: stopping every process this run started')
        sys.exit(130)
    finally:
        end_all()


if __name__ == '__main__':
    main()
