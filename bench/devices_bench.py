#!/usr/bin/env python3
"""Ferry's virtio devices side by side with QEMU's (issue 13), in one run, on the same test guest,
the same image files, the same taps and bridge. Standard library only. Run by bench/devices.sh,
which makes the network namespace this runs in (and removes it); run alone only inside such a
namespace (`ip netns exec NS`), after the set-up devices.sh does.

  devices_bench.py --ferry BIN --guest DIR --peer QEMU_PEER_DIR --tap-a TAP --tap-b TAP
                   --guest-ip A.B.C.D --host-ip A.B.C.D [--parts disk,net,migration,storage]
                   [--rounds 3] [--runs 5] [--out DIR] ...

Parts (--parts; every part alternates the sides, Ferry first in odd rounds, QEMU first in even):
  disk       blkbench (guest/workloads/blkbench.c) in a fresh 256 MiB guest with 2 vCPUs on a raw
             image (--disk-mb, default 256 MiB, non-zero data, written fresh on this host's disk for
             each boot): sequential 1 MiB, 64 KiB and 4 KiB reads and writes, random 4 KiB reads and
             writes, one request at a time; MiB/s, IOPS, latency p50/p99 per request; and the
             guest's getpid system call, the floor under each request. --rounds boots per side.
  net        netserve behind tap A on the bridge; from the bridge (the host side): netprobe.py
             stream (TCP throughput, --net-seconds), then udp and echo (TCP) probes every 5 ms
             (request latency p50/p99). --rounds boots per side.
  migration  netserve behind tap A; a receiving VMM on tap B (then A, B, ... for each hop);
             netprobe icmp, udp and echo at 10 ms each run through every hop; the client-observed
             downtime is each client's longest gap between replies that overlaps the migration.
             Pre-copy then post-copy, --blocks boots per side and mode (alternating the sides), each
             migrated --runs times (Ferry: `ferry migrate --mode precopy|postcopy`;
             QEMU: migrate to an -incoming QEMU, with postcopy-ram and migrate-start-postcopy at
             once for post-copy), 50 ms downtime limit on both, no bandwidth limit.
  storage    a 1 GiB image (non-zero data; blkverify writing its first --storage-blocks blocks at
             --storage-rate blocks/s) moved with the VM: QEMU's block migration (`migrate` with
             blk=true, QEMU 7.2's `migrate -b`) and Ferry's `ferry migrate --copy-storage` when
             this ferry has it (else that side is skipped, saying so). Total time, reported
             downtime, guest-observed downtime (blkverify's 10 ms heartbeats), and a check that the
             destination image holds the source's data (blkverify --verify-only there, and the
             bytes past blkverify's blocks compared on the host).

QEMU: qemu-system-x86_64 -enable-kvm, microvm with ACPI, virtio-mmio version 2 transports, as
guest/kernel/test-qemu.sh boots it (the same device parameters), a virtio-blk-device on
`-drive ...,cache=writeback,aio=threads` (QEMU's defaults, spelled out) and a virtio-net-device on
the tap. Migration goes through the shared QEMU peer's mig.py (its Guest, QMP and _migrate are
imported from --peer, not copied), with this module's command line in place of its own.
Ferry's card gets QEMU's MAC (52:54:00:12:34:50), so the bridge and the host's neighbour table
see one guest whichever VMM runs it.

Progress goes to stderr, the Markdown tables to stdout; raw JSON lines into --out/runs.jsonl.
Every process is started here and ended here by its PID, also on errors and Ctrl-C.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cpu_cost import FERRY_VCPU, QEMU_VCPU  # noqa: E402
from precopy_bench import LIVE, Console, FerryProc, end, end_all, free_port, log, now, spawn  # noqa: E402

MAC = '52:54:00:12:34:50'
RESULT = re.compile(r'^blkbench result (.*)$')
SYSCALL = re.compile(r'^blkbench syscall getpid_us=([0-9.]+)')
BAD = re.compile(r'ferry-guest: (panic|fault|out of memory)|blkverify (FAIL|BAD)|^(blkbench|blkverify|netserve): ')
DISK_TESTS = 'seqread:1M,seqwrite:1M,seqread:64K,seqwrite:64K,seqread:4K,seqwrite:4K,randread:4K,randwrite:4K'
mig = None          # the QEMU peer's mig.py, imported in main()


def sides_for(rnd):
    return ('ferry', 'qemu') if rnd % 2 == 0 else ('qemu', 'ferry')


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


# --------------------------------------------------------------------------- QEMU
def qemu_cmd(a, cmdline, disks=(), taps=(), serial='stdio', mem=None):
    """QEMU microvm with ACPI and virtio-mmio version 2 devices, as guest/kernel/test-qemu.sh
    boots the test guest: QEMU 7.2 gives the first device transport 23 (0xfeb02e00, GSI 47), the
    next 22, ...; the guest learns them from virtio_mmio.device= words."""
    devs, n = [], 0
    for i, d in enumerate(disks):
        devs += ['-drive', f'file={d},format=raw,if=none,id=disk{i},cache=writeback,aio=threads',
                 '-device', f'virtio-blk-device,drive=disk{i}']
    for i, t in enumerate(taps):
        devs += ['-netdev', f'tap,id=net{i},ifname={t},script=no,downscript=no',
                 '-device', f'virtio-net-device,netdev=net{i},mac={MAC[:-1]}{i}']
    for n in range(len(disks) + len(taps)):
        t = 23 - n
        cmdline += f' virtio_mmio.device=512@0x{0xfeb00000 + 512 * t:x}:{24 + t}'
    return ['qemu-system-x86_64', '-enable-kvm', '-cpu', 'host,-arch-capabilities,-cx16',
            '-M', 'microvm,acpi=on', '-m', mem or a.mem, '-smp', '2', '-nodefaults', '-display', 'none',
            '-no-reboot', '-serial', serial, '-kernel', f'{a.guest}/ferry-guest.elf',
            '-initrd', f'{a.guest}/initrd.cpio', '-append', f'console=ttyS0 {cmdline}',
            '-global', 'virtio-mmio.force-legacy=false', *devs,
            # thread names ("CPU 0/KVM", "worker", ...) for the CPU figures
            '-name', 'fdb,debug-threads=on']


def ferry_cmd(a, name, cmdline, disks=(), taps=(), mem=None):
    cmd = [a.ferry, 'run', '--kernel', f'{a.guest}/ferry-guest.elf', '--initrd', f'{a.guest}/initrd.cpio',
           '--memory', mem or a.mem, '--cpus', '2', '--name', name, '--console', 'stdio', '--cmdline', cmdline]
    for d in disks:
        cmd += ['--disk', d]
    for t in taps:
        cmd += ['--net', f'tap={t},mac={MAC}']
    return cmd


class Boot:
    """One guest, booted by Ferry or QEMU, its console read from stdout."""

    def __init__(self, a, side, tag, cmdline, disks=(), taps=(), mem=None):
        self.side, self.a = side, a
        sh('ip', 'neigh', 'flush', 'all')
        if side == 'ferry':
            self.f = FerryProc(a, ferry_cmd(a, tag, cmdline, disks, taps, mem), tag, tag)
            self.p, self.console = self.f.p, self.f.console
        else:
            self.f = None
            self.err = open(os.path.join(a.casedir, f'{tag}.stderr'), 'w')
            cmd = qemu_cmd(a, cmdline, disks, taps, mem=mem)
            with open(os.path.join(a.casedir, f'{tag}.cmdline'), 'w') as f:
                f.write(' '.join(cmd) + '\n')
            self.p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err)
            self.console = Console(self.p.stdout, os.path.join(a.casedir, f'{tag}.console.log'))

    def wait(self, patterns, timeout):
        ok = self.console.wait_for(patterns, timeout)
        if not ok:
            raise RuntimeError(f'{self.side}: {patterns} not seen within {timeout:.0f} s (see {self.a.casedir})')

    def stop(self):
        if self.f:
            self.f.stop(self.a)
        else:
            end(self.p)
            self.err.close()


# --------------------------------------------------------------------------- disk
def write_image(path, mib):
    """A raw image of mib MiB of non-zero data (a 1 MiB random block repeated), on disk."""
    block = os.urandom(1 << 20)
    with open(path, 'wb') as f:
        for _ in range(mib):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())


class TestCpu:
    """CPU time of a VMM process per blkbench test: sampled when each blkbench line reaches the
    console (the syscall line opens the first test, each result line closes one), split into its
    vCPU threads and the rest (the VMM: device threads, main loop). Read from each thread's
    /proc/PID/task/TID/schedstat (time on a CPU, in ns: finer than the 10 ms ticks of
    bench/cpu_cost.py); a thread that has ended (the vCPUs, once the guest powered off) keeps the
    last value seen of it."""

    def __init__(self, pid, vcpu_re, console):
        self.pid, self.vcpu_re, self.console = pid, vcpu_re, console
        self.samples = []           # (line index, all threads ns, vCPU threads ns)
        self.seen = {}              # tid -> (is a vCPU, ns on a CPU)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self):
        for tid in os.listdir(f'/proc/{self.pid}/task'):
            try:
                vcpu = self.seen[tid][0] if tid in self.seen else \
                    bool(self.vcpu_re.match(open(f'/proc/{self.pid}/task/{tid}/comm').read().rstrip('\n')))
                with open(f'/proc/{self.pid}/task/{tid}/schedstat') as f:
                    self.seen[tid] = (vcpu, int(f.read().split()[0]))
            except (OSError, ValueError, IndexError):
                pass                # ended meanwhile
        return sum(ns for _, ns in self.seen.values()), sum(ns for v, ns in self.seen.values() if v)

    def _run(self):
        seen, polls = 0, 0
        while not self.done.wait(0.005):
            polls += 1
            lines = self.console.lines
            sampled = False
            while seen < len(lines):
                if lines[seen][1].startswith(('blkbench syscall', 'blkbench result')):
                    try:
                        self.samples.append((seen, *self._read()))
                        sampled = True
                    except OSError:
                        pass
                seen += 1
            if not sampled and polls % 20 == 0:
                try:
                    self._read()
                except OSError:
                    pass

    def per_test(self):
        """[(vcpu_ms, vmm_ms)] for each result line, in order."""
        want = sum(1 for _, x in self.console.lines if x.startswith(('blkbench syscall', 'blkbench result')))
        deadline = now() + 1.0
        while len(self.samples) < want and now() < deadline:
            time.sleep(0.005)
        self.done.set()
        self.thread.join()
        out = []
        for (_, t0, v0), (_, t1, v1) in zip(self.samples, self.samples[1:]):
            out.append(((v1 - v0) / 1e6, ((t1 - v1) - (t0 - v0)) / 1e6))
        return out


def disk_part(a, raw):
    a.casedir = os.path.join(a.out, 'disk')
    os.makedirs(a.casedir, exist_ok=True)
    img = os.path.join(a.casedir, 'disk.img')
    cmdline = (f'ferry.workload=blkbench ferry.args="--tests {a.disk_tests} --seconds {a.disk_seconds:g} '
               f'--mb {a.disk_mb}" ferry.poweroff=1')
    out = []
    for rnd in range(a.rounds):
        for side in sides_for(rnd):
            write_image(img, a.disk_mb)
            tag = f'disk-{side}-{rnd + 1}'
            b = Boot(a, side, tag, cmdline, disks=[img])
            cpu = TestCpu(b.p.pid, FERRY_VCPU if side == 'ferry' else QEMU_VCPU, b.console)
            try:
                b.wait(['blkbench done'], 60 + 10 * a.disk_seconds * len(a.disk_tests.split(',')))
                per_test = cpu.per_test()
            finally:
                cpu.done.set()
                b.stop()
            bad = [x for _, x in b.console.lines if BAD.search(x)]
            if bad:
                raise RuntimeError(f'{side} disk: {bad[0]}')
            sysc = None
            k = 0
            for _, text in b.console.lines:
                m = SYSCALL.match(text)
                if m:
                    sysc = float(m.group(1))
                m = RESULT.match(text)
                if m:
                    r = dict(kv.split('=', 1) for kv in m.group(1).split())
                    res = {'kind': 'disk', 'side': side, 'round': rnd + 1, 'test': f"{r['test']}:{fmt_bs(int(r['bs']))}",
                           **{k_: float(v) for k_, v in r.items() if k_ not in ('test', 'bs')}}
                    if k < len(per_test) and res['ops']:
                        vcpu_ms, vmm_ms = per_test[k]
                        res['vcpu_ms_per_op'] = round(vcpu_ms / res['ops'], 3)
                        res['vmm_us_per_op'] = round(vmm_ms * 1000 / res['ops'], 1)
                    k += 1
                    out.append(res)
                    raw.write(json.dumps(res) + '\n')
            res = {'kind': 'syscall', 'side': side, 'round': rnd + 1, 'getpid_us': sysc}
            out.append(res)
            raw.write(json.dumps(res) + '\n')
            log(f'disk {side} round {rnd + 1}: getpid {sysc} us; ' + ', '.join(
                f"{r['test']} {r['mib_s']:.1f} MiB/s p50 {r['lat_us_p50']:.0f} us"
                for r in out if r['kind'] == 'disk' and r['side'] == side and r['round'] == rnd + 1))
    os.unlink(img)
    return out


def fmt_bs(n):
    return f'{n >> 20}M' if n >= 1 << 20 and n % (1 << 20) == 0 else f'{n >> 10}K' if n % 1024 == 0 else str(n)


# --------------------------------------------------------------------------- network
def probe(a, mode, seconds, interval_ms=10.0, times=None):
    cmd = [sys.executable, os.path.join(HERE, 'netprobe.py'), mode, a.guest_ip, '--seconds', f'{seconds:g}',
           '--interval-ms', f'{interval_ms:g}'] + (['--times', times] if times else [])
    p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.times = times
    return p


def window_gaps(times, t0, t1):
    """From reply times: the longest gap overlapping [t0, t1] (a pair of consecutive replies with
    the later one at or after t0 and the earlier one at or before t1; the migration's window) and
    the longest one wholly before t0 (the noise floor), in ms, and where the first began (ms
    after t0)."""
    best, at, base = 0.0, None, 0.0
    for x, y in zip(times, times[1:]):
        if y >= t0 and x <= t1:
            if y - x > best:
                best, at = y - x, x
        elif y < t0:
            base = max(base, y - x)
    return {'window_gap_ms': round(best * 1000, 1), 'window_gap_from_ms': round((at - t0) * 1000, 1) if at else None,
            'before_gap_ms': round(base * 1000, 1)}


def probe_result(p, timeout, window=None):
    r = _probe_result(p, timeout)
    if window and getattr(p, 'times', None):
        try:
            with open(p.times) as f:
                times = [float(x) for x in f.read().split()]
            r.update(window_gaps(times, *window))
        except OSError as e:
            r['times_error'] = str(e)
    return r


def _probe_result(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end(p)
        return {'error': 'timeout'}
    LIVE.pop(p.pid, None)
    lines = out.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (ValueError, IndexError):
        return {'error': (err or out).strip()[-200:]}


def netserve_cmdline(a, hb_ms=1000):
    return f'ferry.workload=netserve ferry.args="--ip {a.guest_ip}/24 --hb-ms {hb_ms}"'


def net_part(a, raw):
    a.casedir = os.path.join(a.out, 'net')
    os.makedirs(a.casedir, exist_ok=True)
    out = []
    for rnd in range(a.rounds):
        for side in sides_for(rnd):
            tag = f'net-{side}-{rnd + 1}'
            b = Boot(a, side, tag, netserve_cmdline(a), taps=[a.tap_a])
            try:
                b.wait(['netserve ready'], 60)
                time.sleep(0.5)
                res = {'kind': 'net', 'side': side, 'round': rnd + 1}
                p = probe(a, 'stream', a.net_seconds)
                res['stream'] = probe_result(p, a.net_seconds + 30)
                for mode in ('udp', 'echo'):
                    p = probe(a, mode, a.net_seconds, interval_ms=5)
                    res[mode] = probe_result(p, a.net_seconds + 30)
            finally:
                b.stop()
            out.append(res)
            raw.write(json.dumps(res) + '\n')
            s, u, e = res['stream'], res['udp'], res['echo']
            log(f"net {side} round {rnd + 1}: stream {s.get('mbit_s')} Mbit/s (lost {s.get('lost')}), "
                f"udp p50 {u.get('rtt_ms_p50')} p99 {u.get('rtt_ms_p99')} ms, echo p50 {e.get('rtt_ms_p50')} "
                f"p99 {e.get('rtt_ms_p99')} ms")
    return out


# --------------------------------------------------------------------------- migration
CLIENTS = ('icmp', 'udp', 'echo')


def ferry_migrate(a, src_name, port, mode, extra=()):
    cmd = [a.ferry, 'migrate', '--name', src_name, '--to', f'127.0.0.1:{port}', '--mode', mode,
           '--max-downtime', '50ms', '--json', *extra]
    if mode == 'precopy':
        cmd += ['--on-no-converge', 'force']     # as QEMU: never abort for a missed target
    t0 = now()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout + 120)
    t1 = now()
    try:
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        j = {}
    return r, j, t0, t1


def ferry_migrations(a, mode, raw):
    tag = f'mig-{mode}-ferry'
    taps = [a.tap_a, a.tap_b]
    src = Boot(a, 'ferry', f'{tag}-0', netserve_cmdline(a), taps=[taps[0]])
    live, out = [src], []
    try:
        src.wait(['netserve ready'], 60)
        time.sleep(1)
        for i in range(1, a.runs + 1):
            port = free_port()
            name = f'{tag}-{i}'
            dst = FerryProc(a, [a.ferry, 'receive', '--listen', f'127.0.0.1:{port}', '--name', name,
                                '--console', 'stdio', '--net', f'tap={taps[i % 2]}'], name, name)
            live.append(dst)
            if not dst.stderr_has('waiting for a migration', 30):
                raise RuntimeError(f'ferry receive did not start (see {dst.errpath})')
            seconds = a.settle + a.post_wait + 2
            clients = {c: probe(a, c, seconds, times=os.path.join(a.casedir, f'{name}.{c}.times')) for c in CLIENTS}
            t_probe = now()
            time.sleep(a.settle)
            r, j, t0, t1 = ferry_migrate(a, src.f.name if isinstance(src, Boot) else src.name, port, mode)
            time.sleep(a.post_wait)
            rep = j.get('report') or {}
            res = {'kind': 'migration', 'side': 'ferry', 'mode': mode, 'run': i, 'rc': r.returncode,
                   'phase': j.get('phase'), 'total_ms': rep.get('total_ms'), 'downtime_ms': rep.get('downtime_ms'),
                   'migrate_wall_ms': round((t1 - t0) * 1000, 1),
                   'inside_probe_window': t1 < t_probe + seconds - 1.0}
            place_gaps(res, {c: probe_result(p, seconds + 30, (t0, t1)) for c, p in clients.items()}, t0, t1)
            if r.returncode != 0:
                res['error'] = (r.stderr or r.stdout).strip()[-300:]
            out.append(res)
            raw.write(json.dumps(res) + '\n')
            log_hop(res)
            (src.f if isinstance(src, Boot) else src).stop(a)
            live.remove(src)
            if r.returncode != 0:
                raise RuntimeError(f'ferry {mode} hop {i} failed: {res.get("error")}')
            src = dst
    finally:
        for p in live:
            p.stop(a) if isinstance(p, FerryProc) else p.stop()
    return out


def place_gaps(res, clients, t0, t1):
    """Each client's longest gap relative to the migrate command (t0), and the migration's end."""
    res['migrate_end_ms'] = round((t1 - t0) * 1000, 1)
    for c, r in clients.items():
        if r.get('longest_gap_start_mono') is not None:
            r['gap_from_migrate_ms'] = round((r['longest_gap_start_mono'] - t0) * 1000, 1)
    res['clients'] = clients


def log_hop(res):
    c = res['clients']
    log(f"migration {res['side']} {res['mode']} {res['run']}: total {res['total_ms']} ms, downtime {res['downtime_ms']} ms, "
        f"migrate command to end {res.get('migrate_end_ms')} ms; client gaps " + ', '.join(
            f"{k} {v.get('window_gap_ms')} ms from {v.get('window_gap_from_ms')} (whole run {v.get('longest_gap_ms')}, "
            f"before {v.get('before_gap_ms')}, lost {v.get('lost')})" for k, v in c.items()))


def qemu_ns(a, sub, **kw):
    """The attributes mig.py's Guest and _migrate read, for QEMU guests this module builds."""
    out = os.path.join(a.casedir, sub)
    os.makedirs(out, exist_ok=True)
    ns = types.SimpleNamespace(
        sockdir=tempfile.mkdtemp(prefix='fdb-qemu-', dir='/tmp'), out=out, ready=kw.get('ready', 'netserve ready'),
        hb_regex=r'^HB (?P<seq>\d+) (?P<ns>\d+) (?P<pages>\d+)', downtime_ms=50, bandwidth='unlimited',
        settle=a.settle, postcopy_after=0.0, poll=0.05, timeout=a.timeout, post_wait=a.post_wait,
        mem=kw.get('mem', a.mem), cpus=2, dirty_mb=0, rate=0, ws_mb=None)
    return ns


def qemu_guest(a, ns, cmdline, role, disks=(), taps=(), incoming=None):
    # mig.Guest builds its command with the module's qemu_cmd(a, serial): ours for this guest.
    mig.qemu_cmd = lambda _a, serial: qemu_cmd(a, cmdline, disks, taps, serial=serial, mem=ns.mem)
    g = mig.Guest(ns, role, incoming=incoming)
    LIVE[g.proc.pid] = g.proc
    return g


def stop_guest(g):
    g.stop()
    LIVE.pop(g.proc.pid, None)


def migrate_timed(ns, src, dst, mode, port, index, blk=False):
    """mig._migrate (settle, `migrate`, poll to the end, post-wait) with the time of the source's
    `migrate` command (and, with blk, QEMU's block migration: blk=true on it)."""
    seen = {}
    qmp_cmd = src.qmp.cmd

    def cmd(name, **args):
        if name == 'migrate':
            seen['t0'] = now()
            if blk:
                args = {**args, 'blk': True}
        return qmp_cmd(name, **args)
    src.qmp.cmd = cmd           # this instance only
    try:
        q = mig._migrate(ns, src, dst, mode, port, index)[0]
    finally:
        src.qmp.__dict__.pop('cmd', None)
    return q, seen.get('t0')


def qemu_migrations(a, mode, raw):
    ns = qemu_ns(a, f'qemu-{mode}')
    taps = [a.tap_a, a.tap_b]
    cmdline = netserve_cmdline(a)
    sh('ip', 'neigh', 'flush', 'all')
    src = qemu_guest(a, ns, cmdline, 'src', taps=[taps[0]])
    live, out = [src], []
    try:
        if not src.console.ready.wait(60):
            raise RuntimeError(f'qemu: netserve not ready (see {ns.out})')
        time.sleep(1)
        for i in range(1, a.runs + 1):
            port = free_port()
            dst = qemu_guest(a, ns, cmdline, 'dst', taps=[taps[i % 2]], incoming=f'tcp:127.0.0.1:{port}')
            live.append(dst)
            seconds = a.settle + a.post_wait + 2
            clients = {c: probe(a, c, seconds, times=os.path.join(ns.out, f'hop-{i}.{c}.times')) for c in CLIENTS}
            t_probe = now()
            q, t0 = migrate_timed(ns, src, dst, mode, port, i)   # settle, migrate, post-wait
            t1 = t0 + q['host_wall_ms'] / 1000
            res = {'kind': 'migration', 'side': 'qemu', 'mode': mode, 'run': i, 'status': q.get('status'),
                   'total_ms': q.get('total_time_ms'), 'downtime_ms': q.get('downtime_ms'),
                   'migrate_wall_ms': q.get('host_wall_ms'), 'inside_probe_window': t1 < t_probe + seconds - 1.0,
                   'postcopy_entered': q.get('postcopy_entered')}
            place_gaps(res, {c: probe_result(p, seconds + 30, (t0, t1)) for c, p in clients.items()}, t0, t1)
            if q.get('status') != 'completed':
                res['error'] = q.get('error')
            out.append(res)
            raw.write(json.dumps(res) + '\n')
            log_hop(res)
            stop_guest(src)
            live.remove(src)
            if q.get('status') != 'completed':
                raise RuntimeError(f'qemu {mode} hop {i}: {q.get("status")} {q.get("error")}')
            src = dst
    finally:
        for g in live:
            stop_guest(g)
    return out


def migration_part(a, raw):
    a.casedir = os.path.join(a.out, 'migration')
    os.makedirs(a.casedir, exist_ok=True)
    out = []
    for k, mode in enumerate(('precopy', 'postcopy')):
        for side in [x for blk in range(a.blocks) for x in sides_for(k + blk)]:
            try:
                out += ferry_migrations(a, mode, raw) if side == 'ferry' else qemu_migrations(a, mode, raw)
            except RuntimeError as e:
                log(f'migration {side} {mode}: {e}')
                res = {'kind': 'migration-error', 'side': side, 'mode': mode, 'error': str(e)}
                raw.write(json.dumps(res) + '\n')
                out.append(res)
    return out


# --------------------------------------------------------------------------- storage
def ferry_has_copy_storage(a):
    if not hasattr(a, 'copy_storage'):
        r = subprocess.run([a.ferry, 'migrate', '--help'], capture_output=True, text=True, timeout=30)
        a.copy_storage = '--copy-storage' in r.stdout
    return a.copy_storage


def storage_images(a, tag):
    """Source: storage_mb MiB of non-zero data with blkverify's blocks (header + data) zeroed, so
    its writer starts fresh on them; destination: an empty file of the same size."""
    src, dst = os.path.join(a.casedir, f'{tag}-src.img'), os.path.join(a.casedir, f'{tag}-dst.img')
    write_image(src, a.storage_mb)
    with open(src, 'r+b') as f:
        f.write(bytes((a.storage_blocks + 1) * 4096))
        os.fsync(f.fileno())
    with open(dst, 'wb') as f:
        f.truncate(a.storage_mb << 20)
    return src, dst


def same_tail(a, src, dst):
    """The bytes past blkverify's blocks are equal in both images (what only the copy put there)."""
    start = (a.storage_blocks + 1) * 4096
    with open(src, 'rb') as f, open(dst, 'rb') as g:
        f.seek(start)
        g.seek(start)
        while True:
            x, y = f.read(1 << 22), g.read(1 << 22)
            if x != y:
                return False
            if not x:
                return True


def blkverify_cmdline(a, extra=''):
    return (f'ferry.workload=blkverify ferry.args="--blocks {a.storage_blocks} --rate {a.storage_rate} '
            f'--sync 64 --hb-ms 10{extra}"')


def verify_image(a, side, img, tag):
    b = Boot(a, side, tag, f'ferry.workload=blkverify ferry.args="--blocks {a.storage_blocks} --verify-only" '
             'ferry.poweroff=1', disks=[img])
    try:
        b.wait(['blkverify verified'], 120)
    except RuntimeError:
        pass
    finally:
        b.stop()
    line = next((x for _, x in b.console.lines if x.startswith('blkverify verified')), None)
    return line


def hb_gap(hbs, t_from, t_to, at=False):
    """The longest heartbeat gap in [t_from, t_to] in ms (mig.max_gap's reading); with at, also
    when it began, ms after t_from."""
    gap, t = mig.max_gap(sorted(hbs), t_from, t_to)
    if at:
        return round(gap * 1000, 1), round((t - t_from) * 1000, 1) if t is not None else None
    return round(gap * 1000, 1)


def storage_qemu(a, raw):
    src_img, dst_img = storage_images(a, 'qemu')
    ns = qemu_ns(a, 'qemu', ready='blkverify ready', mem=a.mem)
    cmdline = blkverify_cmdline(a)
    src = qemu_guest(a, ns, cmdline, 'src', disks=[src_img])
    live = [src]
    try:
        if not src.console.ready.wait(60):
            raise RuntimeError(f'qemu: blkverify not ready (see {ns.out})')
        port = free_port()
        dst = qemu_guest(a, ns, cmdline, 'dst', disks=[dst_img], incoming=f'tcp:127.0.0.1:{port}')
        live.append(dst)
        # QEMU 7.2's block migration: `migrate` with blk=true (HMP `migrate -b`) copies every
        # disk's contents alongside RAM, then the writes made meanwhile, before the switch-over.
        t_settle = now()
        q, t0 = migrate_timed(ns, src, dst, 'precopy', port, 1, blk=True)
        hbs = src.console.hb + dst.console.hb
        gap, gap_at = hb_gap(hbs, t0, now(), at=True)
        res = {'kind': 'storage', 'side': 'qemu', 'status': q.get('status'), 'total_ms': q.get('total_time_ms'),
               'downtime_ms': q.get('downtime_ms'), 'guest_ms': gap, 'guest_gap_from_ms': gap_at,
               'baseline_ms': hb_gap(hbs, t_settle + 0.5, t0), 'error': q.get('error')}
        try:
            disk = dst.qmp.cmd('query-migrate')
            res['dst_status'] = disk.get('status')
        except RuntimeError:
            pass
        bad = [x for _, x in src.console.lines + dst.console.lines if BAD.search(x)]
        res['guest_errors'] = bad[:3]
    finally:
        for g in live:
            stop_guest(g)
    res['verified'] = verify_image(a, 'qemu', dst_img, 'storage-qemu-verify')
    res['tail_equal'] = same_tail(a, src_img, dst_img)
    os.unlink(src_img)
    os.unlink(dst_img)
    raw.write(json.dumps(res) + '\n')
    log(f"storage qemu: {res}")
    return res


def storage_ferry(a, raw, mode):
    if not ferry_has_copy_storage(a):
        res = {'kind': 'storage', 'side': 'ferry', 'mode': mode, 'skipped': 'this ferry has no `migrate --copy-storage`'}
        raw.write(json.dumps(res) + '\n')
        log(f"storage ferry: skipped: {res['skipped']}")
        return res
    src_img, dst_img = storage_images(a, 'ferry')
    src = Boot(a, 'ferry', 'storage-ferry-0', blkverify_cmdline(a), disks=[src_img])
    live = [src.f]
    res = {'kind': 'storage', 'side': 'ferry', 'mode': mode}
    try:
        src.wait(['blkverify ready'], 60)
        port = free_port()
        dst = FerryProc(a, [a.ferry, 'receive', '--listen', f'127.0.0.1:{port}', '--name', 'storage-ferry-1',
                            '--console', 'stdio', '--disk', dst_img], 'storage-ferry-1', 'storage-ferry-1')
        live.append(dst)
        if not dst.stderr_has('waiting for a migration', 30):
            raise RuntimeError(f'ferry receive did not start (see {dst.errpath})')
        t_settle = now()
        time.sleep(a.settle)
        r, j, t0, t1 = ferry_migrate(a, 'storage-ferry-0', port, mode, ['--copy-storage'])
        if mode == 'postcopy' and r.returncode == 0:
            # The blocks follow the resume: the image is whole once the receiver says post-copy is complete.
            dst.stderr_has('post-copy complete', a.timeout)
        time.sleep(a.post_wait)
        rep = j.get('report') or {}
        hbs = src.console.hb + dst.console.hb
        gap, gap_at = hb_gap(hbs, t0, now(), at=True)
        res.update({'rc': r.returncode, 'phase': j.get('phase'), 'total_ms': rep.get('total_ms'),
                    'downtime_ms': rep.get('downtime_ms'), 'guest_ms': gap, 'guest_gap_from_ms': gap_at,
                    'baseline_ms': hb_gap(hbs, t_settle + 0.5, t0), 'report': rep})
        if r.returncode != 0:
            res['error'] = (r.stderr or r.stdout).strip()[-300:]
        bad = [x for _, x in src.console.lines + dst.console.lines if BAD.search(x)]
        res['guest_errors'] = bad[:3]
    except RuntimeError as e:
        res['error'] = str(e)
    finally:
        for p in live:
            p.stop(a)
    res['verified'] = verify_image(a, 'ferry', dst_img, 'storage-ferry-verify')
    res['tail_equal'] = same_tail(a, src_img, dst_img)
    os.unlink(src_img)
    os.unlink(dst_img)
    raw.write(json.dumps(res) + '\n')
    log(f"storage ferry {mode}: { {k: v for k, v in res.items() if k != 'report'} }")
    return res


def storage_part(a, raw):
    a.casedir = os.path.join(a.out, 'storage')
    os.makedirs(a.casedir, exist_ok=True)
    out = []
    for rnd in range(a.storage_runs):
        for side in sides_for(rnd):
            for mode in (a.storage_modes.split(',') if side == 'ferry' else ['precopy']):
                try:
                    r = storage_ferry(a, raw, mode) if side == 'ferry' else storage_qemu(a, raw)
                except RuntimeError as e:
                    log(f'storage {side} {mode}: {e}')
                    r = {'kind': 'storage', 'side': side, 'mode': mode, 'error': str(e)}
                r['run'] = rnd + 1
                out.append(r)
    return out


# --------------------------------------------------------------------------- tables
def ratio(f, q):
    return f'{f / q:.2f}' if f is not None and q else '—'


def num(x, d=1):
    return '—' if x is None else f'{x:,.{d}f}'


def summarize(a, res):
    lines = []
    disk = [r for r in res.get('disk', []) if r['kind'] == 'disk']
    if disk:
        lines += [f'Disk: blkbench, one request at a time, {a.disk_mb} MiB image, medians of {a.rounds} boots per side '
                  '(ratio = Ferry ÷ QEMU; throughput target ≥ 0.8, latency ≤ 1.25)', '',
                  '| test | MiB/s ferry / QEMU (ratio) | MiB/s range over the boots ferry; QEMU | IOPS ferry / QEMU | latency p50 µs ferry / QEMU (ratio) | p99 µs ferry / QEMU (ratio) | vCPU CPU ms per request ferry / QEMU | VMM CPU outside the vCPUs µs per request ferry / QEMU (ratio) |',
                  '|---|---|---|---|---|---|---|---|']
        for t in dict.fromkeys(r['test'] for r in disk):
            m = {s: {k: median([r.get(k) for r in disk if r['test'] == t and r['side'] == s])
                     for k in ('mib_s', 'iops', 'lat_us_p50', 'lat_us_p99', 'vcpu_ms_per_op', 'vmm_us_per_op')}
                 for s in ('ferry', 'qemu')}
            f, q = m['ferry'], m['qemu']
            rng = {s_: [r['mib_s'] for r in disk if r['test'] == t and r['side'] == s_] for s_ in ('ferry', 'qemu')}
            rng = {s_: f'{min(v):.1f}–{max(v):.1f}' if v else '—' for s_, v in rng.items()}
            lines.append(f"| {t} | {num(f['mib_s'])} / {num(q['mib_s'])} (**{ratio(f['mib_s'], q['mib_s'])}**) | "
                         f"{rng['ferry']}; {rng['qemu']} | "
                         f"{num(f['iops'], 0)} / {num(q['iops'], 0)} | {num(f['lat_us_p50'], 0)} / {num(q['lat_us_p50'], 0)} "
                         f"({ratio(f['lat_us_p50'], q['lat_us_p50'])}) | {num(f['lat_us_p99'], 0)} / {num(q['lat_us_p99'], 0)} "
                         f"({ratio(f['lat_us_p99'], q['lat_us_p99'])}) | {num(f.get('vcpu_ms_per_op'), 2)} / "
                         f"{num(q.get('vcpu_ms_per_op'), 2)} | {num(f.get('vmm_us_per_op'), 0)} / {num(q.get('vmm_us_per_op'), 0)} "
                         f"({ratio(f.get('vmm_us_per_op'), q.get('vmm_us_per_op'))}) |")
        sc = {s: median([r['getpid_us'] for r in res['disk'] if r['kind'] == 'syscall' and r['side'] == s])
              for s in ('ferry', 'qemu')}
        lines += ['', f"Guest getpid system call (blkbench, same boots): ferry {num(sc['ferry'])} µs, QEMU {num(sc['qemu'])} µs "
                  f"({ratio(sc['ferry'], sc['qemu'])})", '']
    net = res.get('net', [])
    if net:
        def nm(side, part, key):
            return median([r[part].get(key) for r in net if r['side'] == side])
        lines += [f'Network: netserve behind a tap on a bridge, clients on the bridge; medians of {a.rounds} boots per side', '',
                  '| figure | ferry | QEMU | ratio (ferry ÷ QEMU) |', '|---|---|---|---|']
        for label, part, key in (('TCP stream Mbit/s', 'stream', 'mbit_s'),
                                 ('UDP echo RTT p50 ms', 'udp', 'rtt_ms_p50'), ('UDP echo RTT p99 ms', 'udp', 'rtt_ms_p99'),
                                 ('TCP echo RTT p50 ms', 'echo', 'rtt_ms_p50'), ('TCP echo RTT p99 ms', 'echo', 'rtt_ms_p99'),
                                 ('longest UDP reply gap, no migration, ms', 'udp', 'longest_gap_ms'),
                                 ('longest TCP echo gap, no migration, ms', 'echo', 'longest_gap_ms')):
            f, q = nm('ferry', part, key), nm('qemu', part, key)
            lines.append(f'| {label} | {num(f, 2)} | {num(q, 2)} | **{ratio(f, q)}** |')
        lost = sum((r[p].get('lost') or 0) for r in net for p in ('stream', 'udp', 'echo'))
        lines += ['', f'Lost probes or stream counters over all network runs: {lost}', '']
    mg = [r for r in res.get('migration', []) if r['kind'] == 'migration']
    if mg or res.get('migration'):
        lines += ['Client-observed downtime: for each client (ICMP, UDP, TCP echo; a probe every 10 ms each, all three '
                  'at once) the longest gap between replies that overlaps the migration (from the migrate command to its '
                  'end); medians over the hops (target ferry ≤ 0.5× QEMU). "before": the longest gap in the 2 s before '
                  'the migrate command (the noise floor). "whole run": the longest gap anywhere in the client\'s run.', '',
                  '| mode | client | ferry ms | QEMU ms | ratio | before ms ferry / QEMU | whole run ms ferry / QEMU | '
                  'gap began, ms after the command, ferry / QEMU | lost probes ferry / QEMU | hops |',
                  '|---|---|---|---|---|---|---|---|---|---|']
        for mode in ('precopy', 'postcopy'):
            for c in CLIENTS:
                v = {s_: [r['clients'][c] for r in mg if r['mode'] == mode and r['side'] == s_] for s_ in ('ferry', 'qemu')}

                def m(key, s_):
                    return median([x.get(key) for x in v[s_]])
                f, q = m('window_gap_ms', 'ferry'), m('window_gap_ms', 'qemu')
                lines.append(f"| {mode} | {c} | {num(f)} | {num(q)} | **{ratio(f, q)}** | "
                             f"{num(m('before_gap_ms', 'ferry'))} / {num(m('before_gap_ms', 'qemu'))} | "
                             f"{num(m('longest_gap_ms', 'ferry'))} / {num(m('longest_gap_ms', 'qemu'))} | "
                             f"{num(m('window_gap_from_ms', 'ferry'), 0)} / {num(m('window_gap_from_ms', 'qemu'), 0)} | "
                             f"{sum(x.get('lost') or 0 for x in v['ferry'])} / {sum(x.get('lost') or 0 for x in v['qemu'])} | "
                             f"{len(v['ferry'])} / {len(v['qemu'])} |")
            def mm(key, s_):
                return median([r.get(key) for r in mg if r['mode'] == mode and r['side'] == s_])
            lines.append(f"| {mode} | reported downtime ms | {num(mm('downtime_ms', 'ferry'))} | {num(mm('downtime_ms', 'qemu'))} | "
                         f"{ratio(mm('downtime_ms', 'ferry'), mm('downtime_ms', 'qemu'))} | | | | | |")
            lines.append(f"| {mode} | total ms (migrate command to its end) | {num(mm('total_ms', 'ferry'), 0)} "
                         f"({num(mm('migrate_end_ms', 'ferry'), 0)}) | {num(mm('total_ms', 'qemu'), 0)} "
                         f"({num(mm('migrate_end_ms', 'qemu'), 0)}) | {ratio(mm('total_ms', 'ferry'), mm('total_ms', 'qemu'))} | | | | | |")
        for r in res.get('migration', []):
            if r['kind'] == 'migration-error':
                lines.append(f"\n{r['side']} {r['mode']}: {r['error']}")
        lines.append('')
    st = res.get('storage', [])
    if st:
        # Ferry's modes each against QEMU's one block migration (QEMU 7.2 refuses post-copy with blk).
        fmodes = sorted({r.get('mode', 'precopy') for r in st if r['side'] == 'ferry'}, key=lambda m: m != 'precopy')
        cols = [('ferry', m) for m in fmodes]
        lines += [f'Live migration with the disk copied: {a.storage_mb} MiB image of non-zero data, blkverify writing '
                  f'{a.storage_rate} blocks/s to its first {a.storage_blocks} blocks; medians over the runs '
                  '(ratio = Ferry ÷ QEMU; downtime target ≤ 0.5)', '',
                  '| figure | ' + ' | '.join(f'ferry {m}' for _, m in cols) + ' | QEMU (block migration) | ' +
                  ' | '.join(f'ratio {m}' for _, m in cols) + ' |',
                  '|---|' + '---|' * (2 * len(cols) + 1)]

        def ok_of(rs):
            return [r for r in rs if (r.get('status') or r.get('phase')) == 'completed']
        by = {c: [r for r in st if r['side'] == 'ferry' and r.get('mode', 'precopy') == c[1]] for c in cols}
        by['qemu'] = [r for r in st if r['side'] == 'qemu']
        for label, key, d in (('total ms', 'total_ms', 0), ('reported downtime ms', 'downtime_ms', 1),
                              ('guest-observed downtime ms (longest blkverify heartbeat gap, 10 ms beats)', 'guest_ms', 1),
                              ('the same before the migration (noise floor) ms', 'baseline_ms', 1),
                              ('that gap began, ms after the migrate command', 'guest_gap_from_ms', 0)):
            q = median([r.get(key) for r in ok_of(by['qemu'])])
            fs = [median([r.get(key) for r in ok_of(by[c])]) for c in cols]
            shown = ['' if key == 'guest_gap_from_ms' else f'**{ratio(f, q)}**' for f in fs]
            lines.append(f'| {label} | ' + ' | '.join(num(f, d) for f in fs) + f' | {num(q, d)} | ' + ' | '.join(shown) + ' |')

        def verdict(rs):
            if rs and all(r.get('skipped') for r in rs):
                return f"not run: {rs[0]['skipped']}"
            good = sum(1 for r in rs if r.get('verified') and ' bad=0' in r['verified'] and r.get('tail_equal'))
            return f"{len(ok_of(rs))} of {len(rs)} completed; destination image verified (blkverify, rest equal) in {good}"
        lines.append('| runs | ' + ' | '.join(verdict(by[c]) for c in cols) + f" | {verdict(by['qemu'])} |" + ' |' * len(cols))
        for r in st:
            if r.get('error'):
                lines.append(f"\n{r['side']} {r.get('mode', '')} run {r.get('run')}: {r['error']}")
        lines.append('')
    return '\n'.join(lines)


# --------------------------------------------------------------------------- main
def main():
    global mig
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ferry', required=True)
    ap.add_argument('--guest', required=True, help='directory with ferry-guest.elf and initrd.cpio (with blkbench)')
    ap.add_argument('--peer', required=True, help='the QEMU peer directory (its mig.py)')
    ap.add_argument('--tap-a', required=True)
    ap.add_argument('--tap-b', required=True)
    ap.add_argument('--guest-ip', required=True)
    ap.add_argument('--parts', default='disk,net,migration,storage')
    ap.add_argument('--rounds', type=int, default=3, help='boots per side for disk and net')
    ap.add_argument('--runs', type=int, default=5, help='migrations per boot (one side, one mode)')
    ap.add_argument('--blocks', type=int, default=1,
                    help='boots per side and mode, alternating the sides (ferry, qemu, qemu, ferry, ...): '
                         'blocks x runs migrations per side and mode')
    ap.add_argument('--mem', default='256M')
    ap.add_argument('--disk-mb', type=int, default=256)
    ap.add_argument('--disk-seconds', type=float, default=3)
    ap.add_argument('--disk-tests', default=DISK_TESTS)
    ap.add_argument('--net-seconds', type=float, default=6)
    ap.add_argument('--settle', type=float, default=2.0)
    ap.add_argument('--post-wait', type=float, default=2.0)
    ap.add_argument('--timeout', type=float, default=60.0)
    ap.add_argument('--storage-mb', type=int, default=1024)
    ap.add_argument('--storage-blocks', type=int, default=16384, help="blkverify's data blocks (4 KiB each)")
    ap.add_argument('--storage-rate', type=int, default=200, help='blkverify blocks written per second')
    ap.add_argument('--storage-runs', type=int, default=3, help='migrations with the disk copied, per side (and per Ferry mode)')
    ap.add_argument('--storage-modes', default='precopy,postcopy', help="Ferry's modes for the disk-copied migration (QEMU: its block migration, pre-copy)")
    ap.add_argument('--out', default=None)
    ap.add_argument('--summarize', metavar='RUNS_JSONL', help='only print the tables of an earlier run (its runs.jsonl)')
    a = ap.parse_args()
    if a.summarize:
        res = {}
        part_of = {'disk': 'disk', 'syscall': 'disk', 'net': 'net', 'migration': 'migration',
                   'migration-error': 'migration', 'storage': 'storage'}
        with open(a.summarize) as f:
            for line in f:
                r = json.loads(line)
                if r['kind'] in part_of:
                    res.setdefault(part_of[r['kind']], []).append(r)
        print(summarize(a, res))
        return
    parts = [p for p in a.parts.split(',') if p]
    a.out = a.out or tempfile.mkdtemp(prefix='ferry-devices-', dir='/tmp')
    os.makedirs(a.out, exist_ok=True)
    os.environ.setdefault('FERRY_RUN_DIR', os.path.join(a.out, 'run'))
    sys.dont_write_bytecode = True     # no __pycache__ in the shared peer's directory
    sys.path.insert(0, a.peer)
    import mig as peer_mig
    mig = peer_mig

    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    raw = open(os.path.join(a.out, 'runs.jsonl'), 'a', buffering=1)
    t_all = now()
    res = {}
    try:
        raw.write(json.dumps({'kind': 'start', 'loadavg': open('/proc/loadavg').read().split()[:3]}) + '\n')
        for part in parts:
            t = now()
            load0 = open('/proc/loadavg').read().split()[:3]
            res[part] = {'disk': disk_part, 'net': net_part, 'migration': migration_part, 'storage': storage_part}[part](a, raw)
            load1 = open('/proc/loadavg').read().split()[:3]
            raw.write(json.dumps({'kind': 'part', 'part': part, 'seconds': round(now() - t, 1),
                                  'loadavg_before': load0, 'loadavg_after': load1}) + '\n')
            log(f'{part}: {now() - t:.0f} s (elapsed {(now() - t_all) / 60:.1f} min), load average {" ".join(load0)} '
                f'before, {" ".join(load1)} after')
        raw.write(json.dumps({'kind': 'end', 'loadavg': open('/proc/loadavg').read().split()[:3]}) + '\n')
        table = summarize(a, res)
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
