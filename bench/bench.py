#!/usr/bin/python3
"""bench: a small, honest look at what each track's journal costs.

    make bench
    /usr/bin/python3 -m bench.bench [--json FILE] [--only journal|winner]

Three measurements, each run 3 times per track (the median is shown):

  idle      N subscribers (N = 100, 500) connected, past their replay (the
            file starts empty) and idle. From /proc: the journal's resident
            memory (VmRSS) and threads, and the CPU time it uses during one
            second in which nothing happens.
  fan-out   20 subscribers; one publisher sends 2000 events at a steady
            2000 a second. Each event's latency is the time from just
            before the publisher's send to its arrival at a subscriber.
  winner    happy-eyeballs racing three addresses, --stagger-ms 100: one
            that hangs (a full backlog), one that refuses, one that answers.
            Attempt 2 starts at 100 ms and is refused, attempt 3 at once
            after it and wins. Connect-to-winner is the time from the
            program's start to the winner's accept (seen by its listener,
            so the program's start-up counts), and what it adds to the
            100 ms the schedule itself takes.

The clients are Python (standard library only): one thread publishes, one
thread reads all 20 subscribers with select(). Their own overhead (the GIL,
a recv per socket, parsing) is inside every latency shown, so the numbers
are an upper bound on what the journal itself adds. The programs come from
$KIT_BUILD (default build/). Not part of `make test`: timings on a shared
machine move by tens of ms from run to run.
"""

import argparse
import json
import os
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import journal as jr
from harness import peers, process, tracks

RUNS = 3
IDLE_COUNTS = (100, 500)
IDLE_SECONDS = 1.0
FAN_SUBSCRIBERS = 20
FAN_EVENTS = 2000
FAN_RATE = 2000          # events a second
WIN_STAGGER_MS = 100

def say(text):
    print(text, flush=True)


# ---------------------------------------------------------------------------
# /proc


def proc_status(pid):
    """(VmRSS in KiB, Threads) from /proc/PID/status."""
    rss = threads = None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            rss = int(value.split()[0])
        elif key == "Threads":
            threads = int(value)
    return rss, threads


def cpu_ns(pid):
    """CPU time used so far by every live thread of pid, in ns.

    /proc/PID/task/TID/schedstat counts in ns; /proc/PID/stat counts in
    clock ticks (10 ms), too coarse for an idle second."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text()
        except OSError:
            continue        # the thread ended meanwhile
        total += int(text.split()[0])
    return total


# ---------------------------------------------------------------------------
# The measurements


def start_journal(path, folder):
    log = Path(folder) / "j.log"
    log.write_bytes(b"")
    return jr.Journal.start([path, "--listen", "127.0.0.1:0",
                             "--file", log])


def idle_once(path, count):
    """One idle run: a dict of rss_kib, threads, cpu_ms_per_s."""
    with tempfile.TemporaryDirectory() as folder:
        server = start_journal(path, folder)
        subs = []
        try:
            subs = [jr.Subscriber(server.addr) for _ in range(count)]
            # One event that every subscriber must receive: then each one is
            # past its replay and live.
            pub = jr.Publisher(server.addr)
            pub.publish(b"ready")
            for sub in subs:
                jr.wait_for_records(sub, 1, 20.0, "a subscriber")
            pub.close()
            time.sleep(0.3)     # let the publisher's close settle
            pid = server.proc.pid
            before = cpu_ns(pid)
            time.sleep(IDLE_SECONDS)
            used = cpu_ns(pid) - before
            rss, threads = proc_status(pid)
        finally:
            for sub in subs:
                sub.close()
            server.proc.close()
    return {"rss_kib": rss, "threads": threads,
            "cpu_ms_per_s": used / 1e6 / IDLE_SECONDS}


def publish_steady(sock, sent, start):
    """Sends event i ("e<i>") at start + i / FAN_RATE; sent[i-1] is the
    time.monotonic() just before its send."""
    for i in range(1, FAN_EVENTS + 1):
        due = start + (i - 1) / FAN_RATE
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sent[i - 1] = time.monotonic()
        sock.sendall(b"e%d\n" % i)


def collect(subs, arrived, deadline):
    """Reads every subscriber until each has every event or the deadline
    passes; arrived[k][i-1] is when subscriber k got event i."""
    sel = selectors.DefaultSelector()
    rest = {}
    missing = {}
    for k, sub in enumerate(subs):
        sub.sock.setblocking(False)
        sel.register(sub.sock, selectors.EVENT_READ, k)
        rest[k] = b""
        missing[k] = FAN_EVENTS
    while any(missing.values()) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            k = key.data
            data = key.fileobj.recv(65536)
            now = time.monotonic()
            if not data:
                sel.unregister(key.fileobj)
                continue
            lines = (rest[k] + data).split(b"\n")
            rest[k] = lines.pop()
            for line in lines:
                _, _, event = line.partition(b" ")
                i = int(event[1:])
                if arrived[k][i - 1] is None:
                    arrived[k][i - 1] = now
                    missing[k] -= 1
    sel.close()


def fanout_once(path):
    """One fan-out run: a dict of median_ms, p99_ms, total_ms, lost."""
    sent = [None] * FAN_EVENTS
    arrived = [[None] * FAN_EVENTS for _ in range(FAN_SUBSCRIBERS)]
    with tempfile.TemporaryDirectory() as folder:
        server = start_journal(path, folder)
        subs = []
        try:
            subs = [jr.Subscriber(server.addr)
                    for _ in range(FAN_SUBSCRIBERS)]
            pub = jr.Publisher(server.addr)
            pub.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The "PUB" line must be read before the first event; give the
            # journal a moment to take every connection's role.
            time.sleep(0.3)
            start = time.monotonic() + 0.05
            publisher = threading.Thread(
                target=publish_steady, args=(pub.sock, sent, start),
                daemon=True)
            publisher.start()
            collect(subs, arrived, start + FAN_EVENTS / FAN_RATE + 10.0)
            publisher.join(10)
            pub.close()
        finally:
            for sub in subs:
                sub.close()
            server.proc.close()
    latencies = []
    lost = 0
    last = start
    for row in arrived:
        for i, t in enumerate(row):
            if t is None or sent[i] is None:
                lost += 1
                continue
            latencies.append((t - sent[i]) * 1000.0)
            last = max(last, t)
    latencies.sort()
    return {"median_ms": statistics.median(latencies) if latencies else None,
            "p99_ms": latencies[int(0.99 * (len(latencies) - 1))]
            if latencies else None,
            "total_ms": (last - start) * 1000.0, "lost": lost}


def winner_once(path):
    """One connect race: a dict of accept_ms (program start -> the winner's
    accept, seen by its listener), won_ms (the program's own `won` trace
    line, None without one) and over_ms (accept_ms - the schedule)."""
    with peers.Server(None, fill_backlog=True, accepting=False) as hanging, \
            peers.Server(peers.seq(peers.send(b"hello\n"),
                                   peers.stall())) as answering:
        refused = peers.refused_addr()
        result = process.run([path, "--connect", hanging.addr, "--connect",
                              refused, "--connect", answering.addr,
                              "--stagger-ms", WIN_STAGGER_MS, "--timeout-ms",
                              5000, "--trace"], timeout_s=10)
        accepted = answering.conns[0].accepted_at if answering.conns else None
    won = None
    for line in result.stderr_lines:
        words = line.split()
        if len(words) >= 2 and words[1] == "won":
            won = float(words[0])
    accept_ms = None
    if accepted is not None and result.rc == 0:
        accept_ms = (accepted - result.t0) * 1000.0
    return {"accept_ms": accept_ms, "won_ms": won,
            "over_ms": None if accept_ms is None
            else accept_ms - WIN_STAGGER_MS}


def median_of(runs, key):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------
# Output


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def print_tables(results):
    say("")
    say(f"Idle subscribers (median of {RUNS} runs; CPU over "
        f"{IDLE_SECONDS:g} s of idleness)")
    head = ("track", "conns", "RSS KiB", "threads", "KiB/conn*",
            "CPU ms/s")
    rows = []
    for track, res in results.items():
        for n in IDLE_COUNTS:
            r = res["idle"][str(n)]
            rows.append((tracks.short_name(track), str(n),
                         fmt(r["rss_kib"], 0), fmt(r["threads"], 0),
                         fmt(r["rss_per_conn_kib"]), fmt(r["cpu_ms_per_s"])))
    table(head, rows)
    say("  * KiB/conn = (RSS at 500 - RSS at 100) / 400: what one more idle")
    say("    connection costs, without the fixed start-up memory.")
    say("")
    say(f"Fan-out: {FAN_SUBSCRIBERS} subscribers, {FAN_EVENTS} events at "
        f"{FAN_RATE}/s (median of {RUNS} runs)")
    head = ("track", "median ms", "p99 ms", "total ms", "lost")
    rows = []
    for track, res in results.items():
        r = res["fanout"]
        rows.append((tracks.short_name(track), fmt(r["median_ms"], 2),
                     fmt(r["p99_ms"], 2), fmt(r["total_ms"], 0),
                     fmt(r["lost"], 0)))
    table(head, rows)
    say("  latency = publisher's send -> a subscriber's recv. The Python")
    say("  clients are inside it (one publishing thread, one select() loop")
    say("  reading all 20 subscribers, sharing the machine's CPUs with")
    say("  the journal): an upper bound on what the journal itself adds.")
    say(f"  total = first send -> last delivery (the sending alone "
        f"takes {FAN_EVENTS / FAN_RATE * 1000:.0f} ms).")


def print_winner(results):
    say("")
    say(f"Connect-to-winner: happy-eyeballs, --stagger-ms {WIN_STAGGER_MS}, "
        f"hanging / refused / answering (median of {RUNS} runs)")
    head = ("track", "accept ms", "won ms", "over schedule ms")
    rows = [(SHORT.get(track, track), fmt(r["accept_ms"]), fmt(r["won_ms"]),
             fmt(r["over_ms"])) for track, r in results.items()]
    table(head, rows)
    say(f"  accept = program start -> the winner's listener accepts; the "
        f"schedule alone")
    say(f"  takes {WIN_STAGGER_MS} ms (attempt 2 is due then and refused; "
        f"attempt 3 starts at once).")
    say("  won = the program's own `won` trace line (its clock starts a "
        "little later).")


def table(head, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows))
              for i, h in enumerate(head)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w)
                     for i, (h, w) in enumerate(zip(head, widths)))
    say("  " + line)
    say("  " + "-" * len(line))
    for r in rows:
        say("  " + "  ".join(c.rjust(w) if i else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths))))


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE",
                        help="also write every run's raw numbers to FILE")
    parser.add_argument("--only", choices=("journal", "winner"),
                        help="run one part only")
    args = parser.parse_args()

    entries = [] if args.only == "winner" else tracks.with_contract("journal")
    racers = ([] if args.only == "journal"
              else tracks.with_contract("happy-eyeballs"))
    missing = [e.id for e in entries + racers
               if not os.access(e.path, os.X_OK)]
    if missing:
        say(f"not built: {', '.join(missing)} (run make first)")
        return 1
    say(f"bench: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"nproc {len(os.sched_getaffinity(0))}, "
        f"programs from {tracks.build_dir()}")
    say("  a shared machine: expect tens of ms of noise in the timings.")

    began = time.monotonic()
    results = {}
    for e in entries:
        res = {"idle": {}, "fanout": {}, "runs": {}}
        for n in IDLE_COUNTS:
            runs = []
            for k in range(RUNS):
                say(f"  {e.track}: {n} idle subscribers, run {k + 1}/{RUNS}")
                runs.append(idle_once(e.path, n))
            res["runs"][f"idle{n}"] = runs
            res["idle"][str(n)] = {key: median_of(runs, key) for key in
                                   ("rss_kib", "threads", "cpu_ms_per_s")}
        low = res["idle"][str(IDLE_COUNTS[0])]["rss_kib"]
        high = res["idle"][str(IDLE_COUNTS[-1])]["rss_kib"]
        per_conn = (high - low) / (IDLE_COUNTS[-1] - IDLE_COUNTS[0])
        for n in IDLE_COUNTS:
            res["idle"][str(n)]["rss_per_conn_kib"] = per_conn
        runs = []
        for k in range(RUNS):
            say(f"  {e.track}: fan-out to {FAN_SUBSCRIBERS}, run "
                f"{k + 1}/{RUNS}")
            runs.append(fanout_once(e.path))
        res["runs"]["fanout"] = runs
        res["fanout"] = {key: median_of(runs, key) for key in
                         ("median_ms", "p99_ms", "total_ms", "lost")}
        results[e.track] = res

    winners = {}
    for e in racers:
        runs = []
        for k in range(RUNS):
            say(f"  {e.track}: connect race, run {k + 1}/{RUNS}")
            runs.append(winner_once(e.path))
        winners[e.track] = {key: median_of(runs, key) for key in
                            ("accept_ms", "won_ms", "over_ms")}
        winners[e.track]["runs"] = runs

    if results:
        print_tables(results)
    if winners:
        print_winner(winners)
    say(f"\n(took {time.monotonic() - began:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "nproc": len(os.sched_getaffinity(0)), "results": results,
             "winner": winners},
            indent=2) + "\n")
        say(f"raw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
