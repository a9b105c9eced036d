#!/usr/bin/env python3
"""Whole-VMM benchmarks for Ferry (issue: boot guests on KVM). Standard library only.

  vmm_bench.py boot  --ferry BIN --guest DIR [--runs 10] [--mem 1G] [--cpus 2]
  vmm_bench.py pause --ferry BIN --guest DIR [--samples 200]
  vmm_bench.py rss   --ferry BIN --guest DIR [--mem 1G]

Every figure is measured here, on this host, in this run; nothing is assumed.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

READY = re.compile(r'^ferry-guest: ready cpus=\d+ memory=\d+ MiB')


def start_vm(a, name, cmdline, mem=None, cpus=None):
    cmd = [a.ferry, 'run', '--kernel', os.path.join(a.guest, 'ferry-guest.elf'),
           '--initrd', os.path.join(a.guest, 'initrd.cpio'), '--memory', mem or a.mem,
           '--cpus', str(cpus or a.cpus), '--name', name, '--cmdline', cmdline]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p, t0


def wait_line(p, pattern, timeout=60):
    deadline = time.monotonic() + timeout
    for raw in p.stdout:
        text = raw.decode('utf-8', 'replace').rstrip()
        if re.search(pattern, text):
            return time.monotonic()
        if time.monotonic() > deadline:
            break
    raise SystemExit(f'no line matching {pattern!r}')


def api(a, name, verb):
    out = subprocess.run([a.ferry, verb, '--name', name, '--json'], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def cmd_boot(a):
    """Process start to the test guest's ready line, as QEMU's boot-time.sh measures it."""
    times = []
    for i in range(a.runs):
        p, t0 = start_vm(a, f'bench-boot-{i}', 'ferry.workload=hello-glibc')
        t = wait_line(p, READY.pattern)
        times.append((t - t0) * 1000)
        p.kill()
        p.wait()
        print(f'# ferry run {i}: {times[-1]:.1f} ms', file=sys.stderr)
    print(json.dumps({'vmm': 'ferry', 'mem': a.mem, 'cpus': a.cpus, 'runs': len(times),
                      'boot_ms': [round(x, 1) for x in times], 'min_ms': round(min(times), 1),
                      'median_ms': round(statistics.median(times), 1)}))


def cmd_pause(a):
    """Pause latency of a busy guest: the API's own measure, from the request's arrival until
    every vCPU is out of KVM_RUN, over many pause/resume cycles."""
    name = f'bench-pause-{os.getpid()}'
    p, _ = start_vm(a, name, f'ferry.workload=memtouch ferry.args="--mb 256 --rate max --threads {a.cpus} --hb-ms 100"')
    try:
        wait_line(p, r'memtouch ready')
        samples = []
        for _ in range(a.samples):
            samples.append(api(a, name, 'pause')['pause_microseconds'])
            api(a, name, 'resume')
            time.sleep(0.01)
        samples.sort()
        q = lambda f: samples[min(len(samples) - 1, int(f * len(samples)))]
        print(json.dumps({'vmm': 'ferry', 'cpus': a.cpus, 'samples': len(samples), 'workload': 'memtouch --rate max',
                          'p50_us': round(q(0.50), 1), 'p99_us': round(q(0.99), 1), 'max_us': round(samples[-1], 1)}))
    finally:
        p.kill()
        p.wait()


def smaps_rss_kib(pid, mapping_bytes):
    """(total RSS, RSS of the guest-RAM mapping) from /proc/PID/smaps; the guest mapping is the
    anonymous one whose size equals the guest's memory."""
    total = guest = 0
    size = rss = None
    with open(f'/proc/{pid}/smaps') as f:
        for line in f:
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
                size = hi - lo
            elif line.startswith('Rss:'):
                rss = int(line.split()[1])
                total += rss
                if size == mapping_bytes:
                    guest += rss
    return total, guest


def cmd_rss(a):
    """Resident memory of the VMM beyond guest memory, for an idle guest and a busy one."""
    units = {'M': 20, 'G': 30}
    mem_bytes = int(a.mem[:-1]) << units[a.mem[-1]]
    results = []
    for label, args in (('idle', '--mb 16 --rate 0'), ('busy', '--mb 256 --rate 20000 --threads 2')):
        name = f'bench-rss-{label}-{os.getpid()}'
        p, _ = start_vm(a, name, f'ferry.workload=memtouch ferry.args="{args} --hb-ms 10"')
        try:
            wait_line(p, r'memtouch ready')
            time.sleep(2)
            for _ in range(20):          # some API traffic, as a managed VM sees
                api(a, name, 'status')
            total, guest = smaps_rss_kib(p.pid, mem_bytes)
            results.append({'case': label, 'total_rss_mib': round(total / 1024, 1),
                            'guest_ram_rss_mib': round(guest / 1024, 1),
                            'vmm_beyond_guest_mib': round((total - guest) / 1024, 1)})
        finally:
            p.kill()
            p.wait()
    print(json.dumps({'vmm': 'ferry', 'mem': a.mem, 'results': results}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    for name in ('boot', 'pause', 'rss'):
        s = sub.add_parser(name)
        s.add_argument('--ferry', required=True)
        s.add_argument('--guest', required=True)
        s.add_argument('--mem', default='1G')
        s.add_argument('--cpus', type=int, default=2)
        s.add_argument('--runs', type=int, default=10)
        s.add_argument('--samples', type=int, default=200)
    a = ap.parse_args()
    {'boot': cmd_boot, 'pause': cmd_pause, 'rss': cmd_rss}[a.cmd](a)


if __name__ == '__main__':
    main()
