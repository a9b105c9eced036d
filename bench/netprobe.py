#!/usr/bin/env python3
"""netprobe: host-side client for the guest's netserve workload (guest/workloads/netserve.c).

    netprobe.py stream HOST [--port 7000] [--seconds S]      TCP sequence stream
    netprobe.py udp HOST [--port 7001] [--interval-ms 10] [--seconds S]
    netprobe.py icmp HOST [--interval-ms 10] [--seconds S]   (root: a raw ICMP socket)
    netprobe.py echo HOST [--port 7002] [--interval-ms 10] [--seconds S] [--size 64]
    (every mode: [--times FILE])

Each prints one JSON line on stdout when done and exits 0 when nothing was lost, reordered
or wrong and at least one reply came, else 1 (2: bad usage or no connection).

  stream: reads 8-byte big-endian counters; every record must be the previous one + 1 from 0.
          {"mode","bytes","counters","lost","reordered","first_ms","longest_gap_ms",
          "longest_gap_start_mono","mbit_s"}
          lost = counters skipped over, reordered = records below the expected one.
  udp/icmp/echo: one probe every interval (sequence number + send time inside), replies
          matched by sequence. {"mode","sent","received","lost","reordered","duplicates",
          "longest_gap_ms","longest_gap_start_mono","rtt_ms_p50","rtt_ms_p99",
          "rtt_ms_max"}; lost counts probes still unanswered
          1 s after the last one was sent.
  longest_gap_ms: the longest time with no data (stream) or no reply (probes), measured from
          the first data/reply to the end of the run, the end included (so a service that
          stops answering shows as a gap running to the end). longest_gap_start_mono: when it
          began (the data/reply before it), in time.monotonic() seconds (CLOCK_MONOTONIC, one
          clock for every process on the host), so a caller can place it in its own timeline.
  --times FILE: also writes the time.monotonic() of every reply (stream: every read) to FILE,
          one a line, for a caller that wants the gaps inside a window of its own.

Python's standard library only, so tests (tests/Ferry.Guest.Tests) and benchmarks (bench/)
run it on any machine that has python3, inside a network namespace with `ip netns exec`.
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import time


def now():
    return time.monotonic()


def report(result, ok):
    print(json.dumps(result), flush=True)
    sys.exit(0 if ok else 1)


def run_stream(a):
    try:
        s = socket.create_connection((a.host, a.port), timeout=5)
    except OSError as e:
        print(json.dumps({"mode": "stream", "error": str(e)}), flush=True)
        sys.exit(2)
    s.setblocking(False)
    start = now()
    end = start + a.seconds
    expected = 0
    lost = reordered = 0
    total = 0
    pending = b""
    first = last = None
    gap, gap_at = 0.0, None
    arrivals = []
    closed = False
    while True:
        t = now()
        if t >= end:
            break
        r, _, _ = select.select([s], [], [], min(0.05, end - t))
        if not r:
            continue
        try:
            data = s.recv(1 << 20)
        except BlockingIOError:
            continue
        except OSError:
            closed = True
            break
        t = now()
        if not data:
            closed = True
            break
        if first is None:
            first = t
        elif t - last > gap:
            gap, gap_at = t - last, last
        last = t
        arrivals.append(t)
        total += len(data)
        pending += data
        n = len(pending) // 8
        for (v,) in struct.iter_unpack(">Q", pending[: n * 8]):
            if v != expected:
                if v > expected:
                    lost += v - expected
                else:
                    reordered += 1
            expected = v + 1
        pending = pending[n * 8:]
    t = now()
    if last is not None and t - last > gap:
        gap, gap_at = t - last, last
    s.close()
    res = {
        "mode": "stream", "bytes": total, "counters": expected, "lost": lost, "reordered": reordered,
        "first_ms": round((first - start) * 1000, 3) if first else None,
        "longest_gap_ms": round(gap * 1000, 3), "longest_gap_start_mono": gap_at, "mbit_s": round(total * 8 / max(t - start, 1e-9) / 1e6, 3),
        "closed_early": closed,
    }
    write_times(a, arrivals)
    report(res, first is not None and lost == 0 and reordered == 0 and not closed)


def write_times(a, arrivals):
    """--times FILE: the time.monotonic() of every reply (probes) or read (stream), one a line."""
    if a.times:
        with open(a.times, "w") as f:
            f.write("".join(f"{t:.6f}\n" for t in arrivals))


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def run_probes(a):
    ident = os.getpid() & 0xFFFF
    if a.mode == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((a.host, a.port))
    elif a.mode == "icmp":
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    else:
        try:
            s = socket.create_connection((a.host, a.port), timeout=5)
        except OSError as e:
            print(json.dumps({"mode": a.mode, "error": str(e)}), flush=True)
            sys.exit(2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    size = max(a.size, 16)

    def probe(seq, t):
        body = struct.pack(">Qd", seq, t) + bytes(size - 16)
        if a.mode == "icmp":
            hdr = struct.pack(">BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
            pkt = struct.pack(">BBHHH", 8, 0, icmp_checksum(hdr + body), ident, seq & 0xFFFF) + body
            s.sendto(pkt, (a.host, 0))
        else:
            s.send(body)

    start = now()
    stop_send = start + a.seconds
    end = stop_send + 1.0
    interval = a.interval_ms / 1000.0
    next_send = start
    seq = 0
    got = {}
    order_max = -1
    reordered = duplicates = 0
    rtts = []
    first = last = None
    gap, gap_at = 0.0, None
    arrivals = []
    tcpbuf = b""
    while True:
        t = now()
        if t >= end or (t >= stop_send and len(got) >= seq):
            break
        if t >= next_send and t < stop_send:
            try:
                probe(seq, t)
            except OSError:
                pass
            seq += 1
            next_send += interval
            if next_send < t:
                next_send = t + interval
        wait = max(0.0, min(next_send if t < stop_send else end, end) - now())
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        while True:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                break
            t = now()
            msgs = []
            if a.mode == "icmp":
                ihl = (data[0] & 15) * 4
                typ, _, _, rid, _ = struct.unpack_from(">BBHHH", data, ihl)
                if typ != 0 or rid != ident:
                    continue
                msgs.append(data[ihl + 8: ihl + 24])
            elif a.mode == "udp":
                msgs.append(data[:16])
            else:
                tcpbuf += data
                while len(tcpbuf) >= size:
                    msgs.append(tcpbuf[:16])
                    tcpbuf = tcpbuf[size:]
            for m in msgs:
                if len(m) < 16:
                    continue
                q, sent = struct.unpack(">Qd", m)
                if q in got:
                    duplicates += 1
                    continue
                got[q] = t
                arrivals.append(t)
                rtts.append(t - sent)
                if q < order_max:
                    reordered += 1
                order_max = max(order_max, q)
                if first is None:
                    first = t
                elif t - last > gap:
                    gap, gap_at = t - last, last
                last = t
    t = min(now(), stop_send)
    if last is not None and t - last > gap:
        gap, gap_at = t - last, last
    rtts.sort()
    res = {
        "mode": a.mode, "sent": seq, "received": len(got), "lost": seq - len(got), "reordered": reordered,
        "duplicates": duplicates, "first_ms": round((first - start) * 1000, 3) if first else None,
        "longest_gap_ms": round(gap * 1000, 3), "longest_gap_start_mono": gap_at,
        "rtt_ms_p50": round(rtts[len(rtts) // 2] * 1000, 3) if rtts else None,
        "rtt_ms_p99": round(rtts[len(rtts) * 99 // 100] * 1000, 3) if rtts else None,
        "rtt_ms_max": round(rtts[-1] * 1000, 3) if rtts else None,
    }
    write_times(a, arrivals)
    report(res, bool(got) and res["lost"] == 0 and reordered == 0 and duplicates == 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["stream", "udp", "icmp", "echo"])
    p.add_argument("host")
    p.add_argument("--port", type=int)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--interval-ms", type=float, default=10.0)
    p.add_argument("--size", type=int, default=64, help="probe size in bytes (udp, icmp, echo)")
    p.add_argument("--times", help="write the time.monotonic() of every reply (or stream read) to this file")
    a = p.parse_args()
    if a.port is None:
        a.port = {"stream": 7000, "udp": 7001, "echo": 7002, "icmp": 0}[a.mode]
    if a.mode == "stream":
        run_stream(a)
    else:
        run_probes(a)


if __name__ == "__main__":
    main()
