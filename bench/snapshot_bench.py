#!/usr/bin/env python3
"""Snapshot, restore and cold-migration times (issue: complete VM state), each against the
limit measured in the same run. Standard library only; needs root (drops the page cache).

  snapshot_bench.py --ferry BIN --guest DIR --dir SCRATCH [--repeat 3]

Limits, as the issue defines them:
  snapshot:  non-zero bytes / the file system's sequential write throughput with fsync
  restore:   non-zero bytes / its read throughput with the page cache dropped
             + non-zero bytes / the rate of populating fresh memory
  cold migration: non-zero bytes / min(loopback TCP, memory population rate)
The rates are measured once at the start (the "limits" line) and again in each run, just
before what they bound, because on this host they swing 2-3x from minute to minute: the cold
read of a freshly written scratch file as large as the image, and populating as much fresh memory (beside the
running source VM, for a migration). Each run is judged against its own limit; the ratios
printed are the medians of those per-run ratios. The restore starts with the page cache
dropped and then the ferry binary alone read back (`ferry --version`), so it measures reading
the image, not paging in the executable.
"""
import argparse, json, os, re, socket, statistics, subprocess, sys, time

def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout

def drop_caches():
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')

def dd_rate(args):
    out = subprocess.run(['dd'] + args, capture_output=True, text=True).stderr
    m = re.search(r'([\d.]+) s, ', out)
    n = re.search(r'^(\d+) bytes', out, re.M)
    return int(n.group(1)) / float(m.group(1))

def fs_rates(scratch, nbytes=1 << 30):
    """Write (with fsync) and cold-read rates of a fresh scratch file of random bytes. Written just
    before it is read, as a snapshot is before its restore: whatever the storage below this
    machine caches of a fresh write, both see alike."""
    path = os.path.join(scratch, 'throughput.bin')
    count = max(1, -(-int(nbytes) // (4 << 20)))
    write = dd_rate(['if=/dev/urandom', f'of={path}', 'bs=4M', f'count={count}', 'conv=fsync'])
    drop_caches()
    read = dd_rate([f'if={path}', 'of=/dev/null', 'bs=4M'])
    os.remove(path)
    return write, read

POPULATE_C = r'''
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
int main(int argc, char **argv){ size_t n = (argc > 1 ? (size_t)atol(argv[1]) : 1024) << 20; struct timespec a,b;
  char *p = mmap(0,n,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE,-1,0);
  char page[4096]; memset(page, 0x5a, sizeof page);
  clock_gettime(CLOCK_MONOTONIC,&a);
  for (size_t o = 0; o < n; o += 4096) memcpy(p+o, page, 4096);
  clock_gettime(CLOCK_MONOTONIC,&b);
  printf("%f\n", n / ((b.tv_sec-a.tv_sec) + (b.tv_nsec-a.tv_nsec)*1e-9)); return 0; }
'''

def populate_rate(scratch):
    src, exe = os.path.join(scratch, 'populate.c'), os.path.join(scratch, 'populate')
    open(src, 'w').write(POPULATE_C)
    sh('gcc', '-O2', '-o', exe, src)
    return statistics.median(float(sh(exe)) for _ in range(3))

def populate_now(scratch, nbytes):
    return float(sh(os.path.join(scratch, 'populate'), str(max(64, int(nbytes) >> 20))))

def tcp_rate():
    server = subprocess.Popen(['iperf3', '-s', '-1', '-p', '5299'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    out = json.loads(sh('iperf3', '-c', '127.0.0.1', '-p', '5299', '-t', '3', '-J'))
    server.wait()
    return out['end']['sum_received']['bits_per_second'] / 8

class Vm:
    def __init__(self, a, name, mem, workload, args, ready):
        self.a, self.name = a, name
        self.p = subprocess.Popen([a.ferry, 'run', '--kernel', f'{a.guest}/ferry-guest.elf', '--initrd', f'{a.guest}/initrd.cpio',
                                   '--memory', mem, '--cpus', '2', '--name', name,
                                   '--cmdline', f'ferry.workload={workload} ferry.args="{args}"'],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.p.stdout:
            if re.search(ready, line):
                break
    def api(self, *args):
        return subprocess.run([self.a.ferry, *args, '--name', self.name], capture_output=True, text=True)
    def kill(self):
        self.p.kill(); self.p.wait()

def wait_socket(path, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); s.close(); return
        except OSError:
            time.sleep(0.001)
    raise SystemExit(f'no socket {path}')

def one_case(a, mem, filled, i):
    name = f'sb-{mem}-{filled}-{i}'
    if filled:
        vm = Vm(a, name, mem, 'memverify', '--mb 512 --mode idle --period-ms 100000', r'memverify ready')
    else:
        vm = Vm(a, name, mem, 'memtouch', '--mb 1 --rate 0 --hb-ms 1000', r'memtouch ready')
    snap = os.path.join(a.dir, f'{name}.snap')
    r = vm.api('snapshot', '--out', snap)
    m = re.search(r"([\d.]+) MiB in (\d+) ms", r.stdout)
    if m is None: raise SystemExit(f"snapshot failed: {r.stdout} {r.stderr}")
    snapshot_ms, image_bytes = float(m.group(2)), os.path.getsize(snap)
    pages = int(re.search(r'(\d+) pages sent', r.stdout).group(1))
    vm.kill()
    # restore: process start until the VM is loaded and its API answers
    nz = pages * 4096
    restore_limit_ms = (nz / fs_rates(a.dir, nz)[1] + nz / populate_now(a.dir, nz)) * 1000
    drop_caches()
    sh(a.ferry, '--version')
    rname = name + '-r'
    t0 = time.monotonic()
    p = subprocess.Popen([a.ferry, 'restore', snap, '--name', rname, '--paused', '--console', '/dev/null'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_socket(os.path.join(os.environ['FERRY_RUN_DIR'], rname + '.sock'))
    restore_ms = (time.monotonic() - t0) * 1000
    p.kill(); p.wait()
    os.remove(snap)
    # cold migration over loopback
    vm = Vm(a, name + '-m', mem, 'memverify' if filled else 'memtouch',
            '--mb 512 --mode idle --period-ms 100000' if filled else '--mb 1 --rate 0 --hb-ms 1000',
            r'memverify ready' if filled else r'memtouch ready')
    port = 7300 + i
    dst = subprocess.Popen([a.ferry, 'receive', '--listen', f'127.0.0.1:{port}', '--name', name + '-d', '--console', '/dev/null'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    migrate_limit_ms = nz / min(a.tcp, populate_now(a.dir, nz)) * 1000
    out = json.loads(vm.api('migrate', '--to', f'127.0.0.1:{port}', '--json').stdout)
    migrate_ms = out['report']['total_ms']
    downtime_ms = out['report']['downtime_ms']
    dst.kill(); dst.wait(); vm.kill()
    return dict(snapshot_ms=snapshot_ms, restore_ms=restore_ms, migrate_ms=migrate_ms, migrate_downtime_ms=downtime_ms,
                nonzero_bytes=nz, image_bytes=image_bytes, restore_limit_ms=restore_limit_ms,
                migrate_limit_ms=migrate_limit_ms, restore_ratio=restore_ms / restore_limit_ms,
                migrate_ratio=migrate_ms / migrate_limit_ms)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ferry', required=True); ap.add_argument('--guest', required=True)
    ap.add_argument('--dir', required=True); ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args()
    write, read = fs_rates(a.dir)
    populate = populate_rate(a.dir)
    tcp = a.tcp = tcp_rate()
    print(json.dumps({'fs_write_fsync_MBps': round(write / 1e6), 'fs_read_cold_MBps': round(read / 1e6),
                      'populate_MBps': round(populate / 1e6), 'loopback_tcp_MBps': round(tcp / 1e6)}))
    for mem in ('1G', '4G'):
        for filled in (False, True):
            runs = [one_case(a, mem, filled, i) for i in range(a.repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            nz = med['nonzero_bytes']
            lim_snap = nz / write * 1000
            lim_restore = (nz / read + nz / populate) * 1000
            lim_mig = nz / min(tcp, populate) * 1000
            print(json.dumps({'memory': mem, 'case': 'memverify 512 MiB idle' if filled else 'idle',
                              'nonzero_MiB': round(nz / 2**20, 1),
                              'snapshot_ms': round(med['snapshot_ms'], 1), 'snapshot_limit_ms': round(lim_snap, 1),
                              'restore_ms': round(med['restore_ms'], 1), 'restore_limit_ms': round(lim_restore, 1),
                              'restore_limit_per_run_ms': round(med['restore_limit_ms'], 1),
                              'restore_ratio_per_run': round(med['restore_ratio'], 2),
                              'migrate_ms': round(med['migrate_ms'], 1), 'migrate_limit_ms': round(lim_mig, 1),
                              'migrate_limit_per_run_ms': round(med['migrate_limit_ms'], 1),
                              'migrate_ratio_per_run': round(med['migrate_ratio'], 2),
                              'migrate_downtime_ms': round(med['migrate_downtime_ms'], 1)}), flush=True)

if __name__ == '__main__':
    main()
