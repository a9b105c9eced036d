"""CPU cost of a migration to one VMM process: user + system CPU time outside its vCPU threads,
from /proc. Used the same way for Ferry (bench/precopy_bench.py) and QEMU (bench/qemu_peer.py).
Standard library only.

  meter = CpuMeter(pid, FERRY_VCPU)   # or QEMU_VCPU
  meter.start()                       # at the migrate command
  ...
  meter.stop()                        # when the migration completed (every page present)
  meter.figures()                     # {'cpu_ms': ..., 'vcpu_ms': ..., 'threads_ms': {...}, ...}

The figure is (process total - vCPU threads) at the end minus the same at the start, where the
process total is utime + stime of /proc/PID/stat (fields 14 and 15, clock ticks of
1/SC_CLK_TCK s) and each vCPU thread's is the same fields of /proc/PID/task/TID/stat. The process
total keeps the time of threads that ended in between, so a worker thread that lived only during
the migration is counted. A vCPU thread that ends before the end sample (Ferry's source ends its
vCPU threads, and then exits, once the VM runs at the destination) is no longer in /proc: its
last value comes from a poll of the vCPU threads every POLL_S while the meter runs, and whatever
it ran after that poll is counted as VMM time (nothing, when its vCPU was paused since then, as
a post-copy source's is from the switchover). A process that has exited but is not yet reaped
(a zombie) still shows its whole total in /proc/PID/stat. Resolution: one clock tick (10 ms) per
reading.
"""
import os
import re
import threading

TICK_MS = 1000 / os.sysconf('SC_CLK_TCK')
FERRY_VCPU = re.compile(r'^vcpu\d+$')          # Ferry's vCPU threads: vcpu0, vcpu1, ...
QEMU_VCPU = re.compile(r'^CPU \d+/KVM$')       # QEMU's: "CPU 0/KVM", "CPU 1/KVM", ...
POLL_S = 0.02


def stat_fields(stat_path):
    """The fields of a /proc stat file from the 3rd (state) on: counted after the ')' that ends the
    command name, which may itself hold spaces and parentheses."""
    with open(stat_path) as f:
        stat = f.read()
    return stat[stat.rindex(')') + 2:].split()


def ticks(stat_path):
    """utime + stime (fields 14 and 15) of a /proc stat file, in clock ticks."""
    fields = stat_fields(stat_path)
    return int(fields[11]) + int(fields[12])


def threads(pid):
    """{tid: (name, ticks)} of the threads alive now."""
    out = {}
    try:
        tids = os.listdir(f'/proc/{pid}/task')
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f'/proc/{pid}/task/{tid}/comm') as f:
                name = f.read().rstrip('\n')
            out[int(tid)] = (name, ticks(f'/proc/{pid}/task/{tid}/stat'))
        except (OSError, ValueError, IndexError):
            pass            # the thread ended meanwhile
    return out


class CpuMeter:
    """CPU time of one process outside its vCPU threads between start() and stop()."""

    def __init__(self, pid, vcpu_re):
        self.pid, self.vcpu_re = pid, vcpu_re
        self.first = self.last = None      # (process ticks, {tid: (name, ticks)})
        self.state = None                  # the process's state at the end ('Z': exited, not reaped)
        self.vcpu_seen = {}                # tid -> last ticks seen of a vCPU thread
        self.error = None
        self._done = threading.Event()
        self._poller = None

    def _sample(self):
        total = ticks(f'/proc/{self.pid}/stat')
        ts = threads(self.pid)
        for tid, (name, t) in ts.items():
            if self.vcpu_re.match(name):
                self.vcpu_seen[tid] = t
        return total, ts

    def start(self):
        try:
            self.first = self._sample()
        except (OSError, ValueError, IndexError) as e:
            self.error = f'start: {e}'
            return
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self):
        # Only the vCPU threads alive at the start: the ones that may end before stop().
        tids = [tid for tid, (name, _) in self.first[1].items() if self.vcpu_re.match(name)]
        while not self._done.wait(POLL_S):
            for tid in tids:
                try:
                    self.vcpu_seen[tid] = ticks(f'/proc/{self.pid}/task/{tid}/stat')
                except (OSError, ValueError, IndexError):
                    pass

    def stop(self):
        """The end sample; once only (later calls keep the first)."""
        self._done.set()
        if self._poller:
            self._poller.join()
        if self.first is None or self.last is not None:
            return
        try:
            self.state = stat_fields(f'/proc/{self.pid}/stat')[0]
            self.last = self._sample()
        except (OSError, ValueError, IndexError) as e:
            self.error = f'stop: {e}'

    def figures(self):
        """cpu_ms: the process outside its vCPU threads; vcpu_ms: its vCPU threads; threads_ms: the
        non-vCPU threads alive at the end by name (summed over threads of one name; those that
        started meanwhile counted from zero), and under "(ended threads)" what the threads gone by then ran
        (the rest of cpu_ms: a residual, off by a tick or two as the files are not read at one instant);
        vcpu_threads_ended: vCPU threads gone by the end; exited: the process had exited (a zombie)."""
        if self.first is None or self.last is None:
            return {'cpu_ms': None, 'cpu_error': self.error or 'not measured'}
        (t0, th0), (t1, th1) = self.first, self.last
        vcpus = {tid for tid, (name, _) in list(th0.items()) + list(th1.items()) if self.vcpu_re.match(name)}
        vcpu0 = sum(th0[tid][1] for tid in vcpus if tid in th0)
        vcpu1 = sum(self.vcpu_seen[tid] for tid in vcpus)
        cpu_ms = ((t1 - vcpu1) - (t0 - vcpu0)) * TICK_MS
        by_name = {}
        for tid, (name, t) in th1.items():
            if tid not in vcpus:
                by_name[name] = by_name.get(name, 0) + (t - th0[tid][1] if tid in th0 else t) * TICK_MS
        # What the threads gone by the end ran (in the process total, no longer in /proc/PID/task).
        by_name['(ended threads)'] = cpu_ms - sum(by_name.values())
        return {'cpu_ms': round(cpu_ms, 1),
                'vcpu_ms': round((vcpu1 - vcpu0) * TICK_MS, 1),
                'threads_ms': {k: round(v, 1) for k, v in sorted(by_name.items(), key=lambda x: -x[1]) if round(v, 1)},
                'vcpu_threads_ended': sum(1 for tid in vcpus if tid not in th1), 'exited': self.state in ('Z', 'X')}
