#!/usr/bin/env python3
"""qemu_peer.py - the shared QEMU peer's `migrate` (../shared/peers/qemu/mig.py, as run by its
run-migration.sh) with what Ferry's bench needs and the peer lacks. The peer stays as it is: its
mig.py is imported from --peer and wrapped here, not copied. Standard library only.

  qemu_peer.py [--peer DIR] [--preempt] [--blocktime] [--cpu-cost] RUN-MIGRATION-OPTIONS...

Every other option goes to mig.py's migrate unchanged (--mode, --repeat, --mem, --kernel, ...;
see the peer's README.md), and so does its output: one JSON line per migration, with these
fields added:

  --preempt    postcopy-preempt on both QEMUs, beside postcopy-ram (post-copy modes only): page
               requests and their replies get a channel of their own, so a requested page does
               not queue behind the background stream. Adds "postcopy_preempt": true when both
               QEMUs report it on after the migration.
  --blocktime  postcopy-blocktime on the destination; after the migration its query-migrate
               gives "postcopy_blocktime_ms" (the time every vCPU was blocked on missing pages at
               once) and "postcopy_vcpu_blocktime_ms" (the list of each vCPU's blocked time).
               QEMU 7.2 counts in whole ms, from its fault thread reading a fault to the page's
               placement, and only faults whose thread is a vCPU's.
  --cpu-cost   "src_cpu_ms" / "dst_cpu_ms": user + system CPU time of the source / destination
               QEMU process outside its vCPU threads ("CPU N/KVM"; each QEMU gets -name
               ferry-bench,debug-threads=on, without which all its threads have one name), from
               the `migrate` command until query-migrate first shows the end (completed, failed,
               cancelled; polled every --poll s), from /proc as bench/cpu_cost.py says.
               "src_vcpu_ms"/"dst_vcpu_ms": the vCPU threads' over the same span;
               "src_cpu_threads_ms"/"dst_cpu_threads_ms": the other threads by name;
               "cpu_span_ms": the span.
  --netns-src NS --netns-dst NS --src-address IP --dst-address IP
               QEMUs inside test-bed hosts (testbed/up): the first source in --netns-src, and
               each hop's destination in the other namespace, listening on its address, so every
               migration crosses the test bed's shaped link (back and forth with --repeat).
               Consoles and QMP stay Unix sockets under --out, which the namespaces share.

Starts and stops only its own QEMU processes (mig.py does, by PID).
"""
import argparse
import os
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cpu_cost import CpuMeter, QEMU_VCPU  # noqa: E402

FINAL = ('completed', 'failed', 'cancelled')


def extend(mig, opts):
    """Wraps mig._migrate (one migration from src to a fresh dst) with the extra capabilities
    and figures."""
    original = mig._migrate

    def _migrate(a, src, dst, mode, port, index):
        post = mode == 'postcopy'
        # mig sets only postcopy-ram itself (on both QEMUs, just before `migrate`), and
        # migrate-set-capabilities changes only the capabilities it names: these stay set.
        if post and opts.preempt:
            for g in (src, dst):   # preempt needs postcopy-ram on at the same time
                g.qmp.cmd('migrate-set-capabilities', capabilities=[
                    {'capability': 'postcopy-ram', 'state': True},
                    {'capability': 'postcopy-preempt', 'state': True}])
        if post and opts.blocktime:
            dst.qmp.cmd('migrate-set-capabilities', capabilities=[
                {'capability': 'postcopy-blocktime', 'state': True}])

        # The CPU meters start at the source's `migrate` command and stop at the first
        # query-migrate that shows the end: the source's QMP calls are watched for both.
        meters, span = [], {}
        if opts.cpu_cost:
            meters = [CpuMeter(src.proc.pid, QEMU_VCPU), CpuMeter(dst.proc.pid, QEMU_VCPU)]
            qmp_cmd = src.qmp.cmd

            def watched(name, **args):
                if name == 'migrate':
                    for m in meters:
                        m.start()
                    span['t0'] = time.monotonic()
                rep = qmp_cmd(name, **args)
                if name == 'query-migrate' and rep.get('status') in FINAL and 't1' not in span and 't0' in span:
                    for m in meters:
                        m.stop()
                    span['t1'] = time.monotonic()
                return rep
            src.qmp.cmd = watched       # this instance only; the class's method again below
        try:
            res, new = original(a, src, dst, mode, port, index)
        finally:
            src.qmp.__dict__.pop('cmd', None)
            for m in meters:
                m.stop()         # a no-op when the end was seen; otherwise (an error) now

        if post and opts.preempt:
            # As both QEMUs have it now (the destination runs a "fault-fast" thread for it).
            res['postcopy_preempt'] = all(
                c['state'] for g in (src, dst) for c in g.qmp.cmd('query-migrate-capabilities')
                if c['capability'] == 'postcopy-preempt')
        if post and opts.blocktime:
            # Filled in by the destination once its incoming migration completed.
            try:
                info = dst.qmp.cmd('query-migrate')
                res['postcopy_blocktime_ms'] = info.get('postcopy-blocktime')
                res['postcopy_vcpu_blocktime_ms'] = info.get('postcopy-vcpu-blocktime')
                res['dst_status'] = info.get('status')
            except RuntimeError as e:
                res['postcopy_blocktime_error'] = str(e)
        if meters:
            for side, m in zip(('src', 'dst'), meters):
                f = m.figures()
                res[f'{side}_cpu_ms'] = f['cpu_ms']
                res[f'{side}_vcpu_ms'] = f.get('vcpu_ms')
                res[f'{side}_cpu_threads_ms'] = f.get('threads_ms')
                if f.get('cpu_error'):
                    res[f'{side}_cpu_error'] = f['cpu_error']
            res['cpu_span_ms'] = round((span['t1'] - span['t0']) * 1000, 1) if 't1' in span else None
        return res, new

    mig._migrate = _migrate

    if opts.cpu_cost:
        # QEMU names its threads ("CPU 0/KVM", "live_migration", "postcopy/fault", ...) only when
        # asked; otherwise every thread is "qemu-system-x86" and the vCPUs cannot be told apart.
        qemu_cmd = mig.qemu_cmd
        mig.qemu_cmd = lambda a, serial: qemu_cmd(a, serial) + ['-name', 'ferry-bench,debug-threads=on']


def in_namespaces(mig, src_ns, dst_ns, src_address, dst_address):
    """Runs mig's QEMUs inside two network namespaces, the guest going back and forth between
    them: the first source in src_ns; each destination in the namespace its source is not in,
    listening on that namespace's address, where the source's `migrate` is pointed."""
    popen = subprocess.Popen
    place = {'ns': src_ns}          # where the next QEMU starts
    home = {}                       # Guest -> its namespace

    def ns_popen(cmd, *args, **kw):
        return popen(['ip', 'netns', 'exec', place['ns'], *cmd], *args, **kw)
    # `ip netns exec` execs QEMU in place: the pid mig keeps (and signals) is QEMU's.
    mig.subprocess = types.SimpleNamespace(Popen=ns_popen, DEVNULL=subprocess.DEVNULL, PIPE=subprocess.PIPE,
                                           TimeoutExpired=subprocess.TimeoutExpired)

    def migrate_once(a, src, mode, index):
        ns, address = (dst_ns, dst_address) if home.get(id(src), src_ns) == src_ns else (src_ns, src_address)
        port = mig.free_port()
        uri = f'tcp:{address}:{port}'
        place['ns'] = ns
        dst = mig.Guest(a, 'dst', incoming=uri)
        home[id(dst)] = ns
        qmp_cmd = src.qmp.cmd
        src.qmp.cmd = lambda name, **args: qmp_cmd(name, **({**args, 'uri': uri} if name == 'migrate' else args))
        try:
            return mig._migrate(a, src, dst, mode, port, index), dst
        except BaseException:
            dst.stop()
            raise
        finally:
            src.qmp.__dict__.pop('cmd', None)
    mig.migrate_once = migrate_once


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--peer', default=os.path.normpath(os.path.join(HERE, '..', '..', 'shared', 'peers', 'qemu')),
                    help='the QEMU peer directory, with mig.py (default: ../shared/peers/qemu)')
    ap.add_argument('--preempt', action='store_true', help='postcopy-preempt beside postcopy-ram')
    ap.add_argument('--blocktime', action='store_true', help="the destination's postcopy-blocktime")
    ap.add_argument('--cpu-cost', action='store_true', help='CPU time of both QEMUs outside their vCPU threads')
    ap.add_argument('--netns-src', help='run the source QEMU in this network namespace')
    ap.add_argument('--netns-dst', help='run each destination QEMU in this network namespace')
    ap.add_argument('--src-address', help="--netns-src's address (a destination listens there on the way back)")
    ap.add_argument('--dst-address', help="--netns-dst's address")
    opts, rest = ap.parse_known_args()
    if len({bool(opts.netns_src), bool(opts.netns_dst), bool(opts.src_address), bool(opts.dst_address)}) != 1:
        ap.error('--netns-src, --netns-dst, --src-address and --dst-address go together')
    sys.dont_write_bytecode = True      # no __pycache__ in the shared peer's directory
    sys.path.insert(0, opts.peer)
    import mig
    extend(mig, opts)
    if opts.netns_src:
        in_namespaces(mig, opts.netns_src, opts.netns_dst, opts.src_address, opts.dst_address)
    sys.argv = [os.path.join(opts.peer, 'mig.py'), 'migrate'] + rest
    mig.main()


if __name__ == '__main__':
    main()
