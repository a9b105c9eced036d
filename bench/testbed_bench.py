#!/usr/bin/env python3
"""bench/testbed_bench.py [--link 1gbit] [--mb 256] [--modes cold,precopy,postcopy] [--runs 1] [--sides ferry,qemu] [--idle-vms 10]

Migrations between two test-bed hosts (testbed/up: network namespaces, each with its own ferryd,
on a tbf-shaped link), driven as a user drives them: `ferry --host h1 vm migrate NAME --to h2`.
For each mode, a fresh guest whose memverify fills --mb MiB (then idles) moves h1 -> h2; printed:
total time against the line-rate limit (bytes on the wire / link rate), reported downtime, and the
agents' own set-up (agent to agent until the source VMM is told to send). With --sides qemu,
QEMU 7.2 migrates the same guest (pre-copy and post-copy of --modes) over the same shaped link:
its first source QEMU runs inside h1's namespace, and each hop's destination in the other host's
(a guest moved h1 -> h2 -> h1 ... for --runs), through
bench/qemu_peer.py (the shared peer harness, wrapped). Each line is one migration; the last lines
give the medians per side and mode, and Ferry's over QEMU's total time. Then the idle agent:
resident memory and CPU of ferryd over 10 s with --idle-vms small VMs on its host.
Uses its own test-bed prefix and subnets; removes everything it made, also when interrupted.
Needs root, the published binaries (artifacts/publish/ferry/ferry, artifacts/publish/ferryd/ferryd) and the guest.
"""
import argparse, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, FERRYBED_PREFIX='fbbench', FERRYBED_DIR='/run/fbbench', FERRYBED_MGMT='10.81.0', FERRYBED_GUEST='10.82.0',
           FERRY_CONFIG='/run/fbbench/config.json',
           FERRY_BIN=os.path.join(ROOT, 'artifacts/publish/ferry/ferry'), FERRYD_BIN=os.path.join(ROOT, 'artifacts/publish/ferryd/ferryd'))
FERRY = ENV['FERRY_BIN']
GUEST = os.environ.get('FERRY_GUEST_DIR', os.path.join(ROOT, 'artifacts/guest'))
RATES = {'kbit': 1e3, 'mbit': 1e6, 'gbit': 1e9, 'bit': 1}


def run(*cmd, check=True):
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def ferry(*args, check=True):
    return run(FERRY, *args, check=check)


def wait_console(host, vm, text, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        if text in ferry('--host', host, 'vm', 'console', vm).stdout:
            return
        time.sleep(1)
    raise RuntimeError(f'{host}/{vm} never printed {text!r}')


def bits_per_second(rate):
    m = re.fullmatch(r'(\d+)(kbit|mbit|gbit|bit)', rate)
    return int(m.group(1)) * RATES[m.group(2)]


def agent_pid(host):
    for pid in run('ip', 'netns', 'pids', f'fbbench-{host}').stdout.split():
        try:
            cmd = open(f'/proc/{pid}/cmdline').read()
        except OSError:
            continue
        if 'ferryd' in cmd and 'serve' in cmd:
            return int(pid)
    raise RuntimeError(f'no ferryd in {host}')


def cpu_ticks(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return int(f[11]) + int(f[12])


def rss_kib(pid):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])


def qemu_migrations(a, rate, modes):
    """QEMU's pre-copy and post-copy of the same guest between the test bed's two hosts, --runs each."""
    out = f'/run/fbbench/qemu'
    guest_args = f'--mb {a.mb} --mode idle --period-ms 3600000'
    cmd = [sys.executable, os.path.join(ROOT, 'bench/qemu_peer.py'), '--netns-src', 'fbbench-h1', '--netns-dst', 'fbbench-h2',
           '--src-address', f"{ENV['FERRYBED_MGMT']}.1", '--dst-address', f"{ENV['FERRYBED_MGMT']}.2", '--mode', ','.join(modes), '--repeat', str(a.runs),
           '--mem', f'{max(512, a.mb * 2)}M', '--cpus', '2', '--kernel', f'{GUEST}/ferry-guest.elf', '--initrd', f'{GUEST}/initrd.cpio',
           '--base-append', f'console=ttyS0 ferry.workload=memverify ferry.args="{guest_args}"', '--ready', 'memverify ready',
           '--bandwidth', 'unlimited', '--settle', '1', '--post-wait', '1', '--out', out]
    r = subprocess.run(cmd, env=dict(ENV, SKIP_APT='1', WORK=out), capture_output=True, text=True)
    results = []
    for line in r.stdout.splitlines():
        q = json.loads(line)
        if q.get('status') != 'completed':
            raise RuntimeError(f"QEMU {q.get('mode')}: {q.get('status')} {q.get('error', '')}")
        limit_ms = q['ram_transferred'] * 8 / rate * 1000
        res = {'side': 'qemu', 'mode': q['mode'], 'link': a.link, 'total_ms': q['total_time_ms'], 'downtime_ms': q['downtime_ms'],
               'bytes': q['ram_transferred'], 'line_rate_limit_ms': round(limit_ms, 1), 'total_over_limit': round(q['total_time_ms'] / limit_ms, 3),
               'host_wall_ms': q['host_wall_ms'], 'postcopy_bytes': q.get('postcopy_bytes'), 'precopy_bytes': q.get('precopy_bytes')}
        print(json.dumps(res), flush=True)
        results.append(res)
    if r.returncode != 0 or not results:
        raise RuntimeError(f'the QEMU side failed ({r.returncode}): {r.stderr.strip()[-500:]}')
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[2])
    p.add_argument('--link', default='1gbit')
    p.add_argument('--mb', type=int, default=256)
    p.add_argument('--modes', default='cold,precopy,postcopy')
    p.add_argument('--runs', type=int, default=1, help='migrations per side and mode (medians are printed)')
    p.add_argument('--sides', default='ferry', help='ferry, qemu or both (ferry,qemu)')
    p.add_argument('--idle-vms', type=int, default=10)
    a = p.parse_args()
    rate = bits_per_second(a.link)
    sides = a.sides.split(',')
    run(os.path.join(ROOT, 'testbed/up'), '--hosts', '2', '--link', a.link)
    results = []
    try:
        for mode, i in ((m, i) for m in (a.modes.split(',') if 'ferry' in sides else []) for i in range(a.runs)):
            vm = f'b-{mode}-{i}'
            ferry('--host', 'h1', 'vm', 'create', vm, '--kernel', f'{GUEST}/ferry-guest.elf', '--initrd', f'{GUEST}/initrd.cpio',
                  '--memory', f'{max(512, a.mb * 2)}M', '--cpus', '2',
                  '--cmdline', f'ferry.workload=memverify ferry.args="--mb {a.mb} --mode idle --period-ms 3600000"')
            ferry('--host', 'h1', 'vm', 'start', vm)
            wait_console('h1', vm, 'memverify ready')
            t0 = time.time()
            r = ferry('--host', 'h1', 'vm', 'migrate', vm, '--to', 'h2', '--mode', mode, '--json', check=False)
            wall = time.time() - t0
            if r.returncode != 0:
                raise RuntimeError(f'{mode}: {r.stderr.strip()}')
            rep = json.loads(r.stdout.strip().splitlines()[-1])['report']
            m = re.search(r'agent set-up until the source VMM was told to send: ([\d.]+) ms \(([\d.]+) ms of it (claiming|starting)', r.stderr)
            setup, receiver_ms, receiver = float(m.group(1)), float(m.group(2)), ('standby' if m.group(3) == 'claiming' else 'started')
            limit_ms = rep['bytes_transferred'] * 8 / rate * 1000
            res = {'side': 'ferry', 'mode': mode, 'link': a.link, 'total_ms': round(rep['total_ms'], 1), 'downtime_ms': round(rep['downtime_ms'], 2),
                   'bytes': rep['bytes_transferred'], 'line_rate_limit_ms': round(limit_ms, 1),
                   'total_over_limit': round(rep['total_ms'] / limit_ms, 3), 'agent_setup_ms': setup, 'receiver_ms': receiver_ms, 'receiver': receiver, 'vmm_setup_ms': rep.get('setup_ms'),
                   'first_migration': len(results) == 0, 'cli_wall_ms': round(wall * 1000)}
            print(json.dumps(res), flush=True)
            results.append(res)
            ferry('--host', 'h2', 'vm', 'stop', vm)
        if 'qemu' in sides:
            results += qemu_migrations(a, rate, [m for m in a.modes.split(',') if m in ('precopy', 'postcopy')])
        for (side, mode) in dict.fromkeys((r['side'], r['mode']) for r in results):
            rows = [r for r in results if (r['side'], r['mode']) == (side, mode)]
            med = {k: statistics.median(r[k] for r in rows) for k in ('total_ms', 'downtime_ms', 'bytes', 'total_over_limit')}
            print(json.dumps({'median_of': len(rows), 'side': side, 'mode': mode, 'link': a.link, **med}), flush=True)
        setups = [r for r in results if r['side'] == 'ferry']
        if setups:
            # Every migration's agent set-up, the first (which also opens the agents' TLS channel) among them.
            print(json.dumps({'agent_setup_ms': {'median': statistics.median(r['agent_setup_ms'] for r in setups),
                                                 'min': min(r['agent_setup_ms'] for r in setups), 'max': max(r['agent_setup_ms'] for r in setups),
                                                 'first': setups[0]['agent_setup_ms'], 'of': len(setups),
                                                 'standby_claimed': sum(r['receiver'] == 'standby' for r in setups)}}), flush=True)
        for mode in a.modes.split(','):
            f = [r['total_ms'] for r in results if r['side'] == 'ferry' and r['mode'] == mode]
            q = [r['total_ms'] for r in results if r['side'] == 'qemu' and r['mode'] == mode]
            if f and q:
                print(json.dumps({'mode': mode, 'link': a.link, 'ferry_total_over_qemu': round(statistics.median(f) / statistics.median(q), 3)}), flush=True)
        if a.idle_vms == 0:
            return
        # The idle agent with --idle-vms VMs on its host.
        for i in range(a.idle_vms):
            ferry('--host', 'h1', 'vm', 'create', f'idle{i}', '--kernel', f'{GUEST}/ferry-guest.elf', '--initrd', f'{GUEST}/initrd.cpio',
                  '--memory', '64M', '--cpus', '1', '--cmdline', 'ferry.workload=memtouch ferry.args="--mb 1 --rate 0 --hb-ms 1000"')
            ferry('--host', 'h1', 'vm', 'start', f'idle{i}')
        time.sleep(5)
        pid = agent_pid('h1')
        c0, t0 = cpu_ticks(pid), time.time()
        time.sleep(10)
        cpu = (cpu_ticks(pid) - c0) * 10 / ((time.time() - t0) * 1000)
        idle = {'idle_vms': a.idle_vms, 'ferryd_rss_mib': round(rss_kib(pid) / 1024, 1), 'ferryd_cpu_percent_of_a_core': round(cpu * 100, 2)}
        print(json.dumps(idle), flush=True)
    finally:
        run(os.path.join(ROOT, 'testbed/down'), check=False)


if __name__ == '__main__':
    sys.exit(main())
