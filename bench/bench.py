#!/usr/bin/python3
"""bench: what each track's programs cost, next to what the machine can do.

    make bench                        (or: /usr/bin/python3 -m bench.bench)
    /usr/bin/python3 -m bench.bench [--quick] [--track T] [--json FILE]
        [--no-plots] [--exe PATH --contract C [--name NAME]]

Every program of every track in tracks.list (and any --exe, so a student
compares theirs) in one run, on loopback, with the ceiling program
(bench/ceiling.c) measured in the same run: it moves the same bytes with
no parsing, so each track is also shown as a fraction of the ceiling.
Tracks are compared within one run, never across runs.

  flood     dashboard: a source sends E events of 13 bytes (+ '\\n') as fast
            as it can, then closes. events/s from the first byte sent to the
            program's exit (every event delivered, DB-6); the worst tick
            lateness (a batch's "ms" minus its due time K x tick); CPU
            seconds (user + system, from wait4). At two --tick-ms values.
  instr     dashboard: instructions per event, from callgrind (perf stat
            cannot count instructions on this kind of virtual machine):
            (Ir of a flood of E events - Ir of an empty one) / E.
  burst     journal: S subscribers, one publisher sends N events in one
            burst. Deliveries/s (S x N over first send -> last delivery),
            write syscalls per delivery (write, writev, send, sendmsg of
            every thread, counted in the kernel by `perf stat -e
            syscalls:sys_enter_...  -p PID`: it does not slow the program
            as strace would; without perf, the syscw of /proc/PID/io,
            which misses send(2)), including the few writes to its file,
            and the CPU it used.
  latency   journal: S subscribers, events at a steady rate; p50/p99 of
            publisher's send -> a subscriber's recv.
  idle      journal: RSS and threads with I and J idle subscribers (past
            their replay); KiB per extra connection = the RSS difference /
            (J - I). wait-client: RSS and threads while it waits for its one
            client (the ceiling: a C program asleep in poll).
  deadline  fetch-line (every program of that contract) against a server
            that never answers, wait-client with no client, --timeout-ms
            50: lateness = spawn -> exit as the harness sees it, minus 50
            ms (the ceiling: `ceiling sleep --ms 50`, start-up included:
            what spawning and reaping a C program adds here).
  winner    happy-eyeballs, --stagger-ms 100: one address hangs, one
            refuses, one answers; program start -> the winner's accept.

The clients are Python (standard library only): their own cost is inside
every latency and rate, for the ceiling as for the tracks. --quick runs
small sizes over one program per contract (the bench's own test uses it).
Numbers on a shared machine are noisy: compare rows of one run.
"""

import argparse
import json
import os
import platform
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import journal as jr
from harness import peers, process, tracks

# The sizes of a full run and of a --quick one.
SIZES = {
    "full": {
        "runs": 3,                      # repeats of idle, latency, winner
        "flood_events": 1_000_000,
        "flood_ticks": (50, 500),
        "instr_events": 30_000,
        "burst_subs": 100,
        "burst_events": 20_000,
        "latency_subs": 20,
        "latency_events": 2000,
        "latency_rate": 2000,           # events a second
        "idle_counts": (100, 500),
        "deadline_ms": 50,
        "deadline_runs": 40,
        "stagger_ms": 100,
    },
    "quick": {
        "runs": 1,
        "flood_events": 200_000,
        "flood_ticks": (50,),
        "instr_events": 2000,
        "burst_subs": 10,
        "burst_events": 2000,
        "latency_subs": 5,
        "latency_events": 200,
        "latency_rate": 2000,
        "idle_counts": (20, 60),
        "deadline_ms": 50,
        "deadline_runs": 5,
        "stagger_ms": 100,
    },
}

CEILING = "ceiling"            # the ceiling's row label in every measure
RUN_LIMIT_S = 60.0             # a single run that takes longer is cut off
TIMED_OUT_RC = 124             # FL-1, WC-3: the exit status of a deadline
EVENT = b"event %07d\n"        # 13 bytes and its '\n'


@dataclass(frozen=True)
class Subject:
    """One program to measure: label (its row), contract, path."""

    label: str
    contract: str
    path: Path


# ---------------------------------------------------------------------------
# Progress (stderr) and the machine


class Progress:
    """One line on stderr saying which step of how many is running."""

    def __init__(self, total):
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()

    def step(self, text):
        self.done += 1
        line = f"bench [{self.done}/{self.total}] {text}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model,
            "kernel": platform.release()}


def kit_commit():
    """The kit's commit, with "+dirty" when the worktree has changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tracks.ROOT), *args],
                              capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return commit


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
    """CPU time used so far by every live thread of pid, in ns
    (/proc/PID/task/TID/schedstat: ns, finer than /proc/PID/stat's ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text()
        except OSError:
            continue        # the thread ended meanwhile
        total += int(text.split()[0])
    return total


def write_syscalls(pid):
    """syscw of /proc/PID/io: write-like syscalls of the whole process."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "syscw":
            return int(value)
    return None


# The syscalls that send bytes: libuv writes with write/writev, the threads
# track sends with send (sendto), and any of them may use sendmsg.
WRITE_SYSCALLS = ("write", "writev", "sendto", "sendmsg")
PERF_EVENTS = ",".join(f"syscalls:sys_enter_{name}" for name in
                       WRITE_SYSCALLS)


def perf_can_count_syscalls():
    """Whether perf can count syscall tracepoints here (perf installed,
    tracefs readable, perf_event_paranoid allowing it)."""
    try:
        return subprocess.run(["perf", "stat", "-e", PERF_EVENTS, "true"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class WriteCounter:
    """Counts the write syscalls of a running process, every thread of it,
    from start() to stop().

    With perf: `perf stat -e syscalls:sys_enter_... -p PID`, which counts in
    the kernel without stopping the program (strace would stop it at each
    call, and a slowed program batches more). Without perf: syscw of
    /proc/PID/io, which counts write(2)/writev(2) only, not send(2)."""

    def __init__(self, pid, use_perf):
        self.pid = pid
        self.perf = None
        self.before = None
        self.use_perf = use_perf

    def start(self):
        if not self.use_perf:
            self.before = write_syscalls(self.pid)
            return
        self.perf = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", PERF_EVENTS, "-p",
             str(self.pid)], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        # Ready once it holds one counter per event and thread.
        want = len(WRITE_SYSCALLS) * proc_status(self.pid)[1]
        peers.wait_until(lambda: self.perf_fds() >= want, 10.0,
                         "perf stat to attach")

    def perf_fds(self):
        count = 0
        folder = f"/proc/{self.perf.pid}/fd"
        for fd in os.listdir(folder):
            try:
                if "perf_event" in os.readlink(f"{folder}/{fd}"):
                    count += 1
            except OSError:
                pass
        return count

    def stop(self):
        if not self.use_perf:
            return write_syscalls(self.pid) - self.before
        self.perf.send_signal(2)
        _, err = self.perf.communicate(timeout=10)
        total = 0
        for line in err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("syscalls:") \
                    and fields[0].isdigit():
                total += int(fields[0])
        return total


def percentile(values, p):
    values = sorted(values)
    if not values:
        return None
    return values[round(p / 100 * (len(values) - 1))]


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock, "127.0.0.1:%d" % sock.getsockname()[1]


# ---------------------------------------------------------------------------
# dashboard flood


def flood_blob(count):
    return b"".join(EVENT % i for i in range(count))


def dashboard_argv(subject, addr, tick_ms):
    if subject.label == CEILING:
        return [subject.path, "copy", "--connect", addr]
    return [subject.path, "--connect", addr, "--tick-ms", str(tick_ms)]


def read_batches(path, tick_ms):
    """(events delivered, worst tick lateness in ms) of a dashboard's
    output; the ceiling's output is raw lines (no lateness)."""
    events = 0
    worst = None
    with open(path, "rb") as out:
        for line in out:
            if not line.startswith(b"{"):
                events += 1
                continue
            batch = json.loads(line)
            events += len(batch["events"])
            if not batch.get("final"):
                late = batch["ms"] - batch["tick"] * tick_ms
                worst = late if worst is None else max(worst, late)
    return events, worst


def run_flood(argv, blob, limit_s=RUN_LIMIT_S):
    """Runs argv against a source that sends blob then closes. Returns
    (seconds from the first byte sent to the exit, rusage, rc, stdout
    path, stderr text); the caller removes the stdout file."""
    sock, addr = listener()
    argv = [str(a) if a != "ADDR" else addr for a in argv]
    out = tempfile.NamedTemporaryFile(prefix="bench-flood-", delete=False)
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=out, stderr=err,
                            stdin=subprocess.DEVNULL)
    out.close()
    killer = threading.Timer(limit_s, proc.kill)
    killer.start()
    began = None
    try:
        sock.settimeout(limit_s)
        conn, _ = sock.accept()
        began = time.monotonic()
        try:
            conn.sendall(blob)
        except OSError:
            pass            # the program went away; its status says why
        conn.close()
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        killer.cancel()
        sock.close()
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    return (ended - began, usage, proc.returncode, out.name,
            err.read().decode("utf-8", "replace"))


def flood_once(subject, tick_ms, count, blob):
    """One flood: a dict of events_per_s, worst_lateness_ms, cpu_s,
    delivered (events in the output), complete (every event, exit 0)."""
    seconds, usage, rc, out, _ = run_flood(
        dashboard_argv(subject, "ADDR", tick_ms), blob)
    try:
        delivered, worst = read_batches(out, tick_ms)
    finally:
        os.unlink(out)
    return {"events_per_s": count / seconds, "seconds": seconds,
            "worst_lateness_ms": worst,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "delivered": delivered, "complete": rc == 0
            and delivered == count}


CALLGRIND_IR = re.compile(r"Collected\s*:\s*(\d+)")


def callgrind_ir(subject, blob, tick_ms):
    """Instructions (Ir) callgrind counts for one flood of blob."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    argv += dashboard_argv(subject, "ADDR", tick_ms)
    _, _, rc, out, err = run_flood(argv, blob, limit_s=4 * RUN_LIMIT_S)
    os.unlink(out)
    found = CALLGRIND_IR.search(err)
    if rc != 0 or not found:
        return None
    return int(found.group(1))


def instructions_per_event(subject, count, tick_ms):
    full = callgrind_ir(subject, flood_blob(count), tick_ms)
    empty = callgrind_ir(subject, b"", tick_ms)
    if full is None or empty is None:
        return None
    return (full - empty) / count


# ---------------------------------------------------------------------------
# journal: burst, latency, idle


def start_server(subject, folder, subs):
    """A journal (or the ceiling's fan with room for subs subscribers)."""
    if subject.label == CEILING:
        argv = [subject.path, "fan", "--listen", "127.0.0.1:0", "--subs",
                str(subs)]
    else:
        log = Path(folder) / "j.log"
        log.write_bytes(b"")
        argv = [subject.path, "--listen", "127.0.0.1:0", "--file", log]
    return jr.Journal.start(argv)


class Fan:
    """S subscribers and one publisher connected to a server, each
    subscriber past its replay (it received a first "ready" event)."""

    def __init__(self, server, count):
        host, port = server.addr.split(":")
        where = (host, int(port))
        self.subs = []
        for _ in range(count):
            sock = socket.create_connection(where, 10)
            sock.sendall(b"SUB\n")
            self.subs.append(sock)
        self.pub = socket.create_connection(where, 10)
        self.pub.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pub.sendall(b"PUB\nready\n")
        for sock in self.subs:
            sock.settimeout(20)
            got = b""
            while b"\n" not in got:
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError("a subscriber was closed at start")
                got += data
            sock.setblocking(False)

    def close(self):
        for sock in self.subs + [self.pub]:
            sock.close()


def read_all(subs, want, limit_s, on_line=None):
    """Reads every subscriber until each has want more lines, or limit_s
    passes, or it is closed. Returns (lines per subscriber, time of the
    last line). on_line(k, chunk, now) sees every chunk read."""
    sel = selectors.DefaultSelector()
    counts = [0] * len(subs)
    for k, sock in enumerate(subs):
        sel.register(sock, selectors.EVENT_READ, k)
    last = None
    open_left = len(subs)
    deadline = time.monotonic() + limit_s
    while open_left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            k = key.data
            try:
                data = key.fileobj.recv(1 << 18)
            except BlockingIOError:
                continue
            now = time.monotonic()
            if not data:
                sel.unregister(key.fileobj)
                open_left -= 1
                continue
            counts[k] += data.count(b"\n")
            last = now
            if on_line:
                on_line(k, data, now)
            if counts[k] >= want:
                sel.unregister(key.fileobj)
                open_left -= 1
    sel.close()
    return counts, last


def burst_once(subject, subs, events, use_perf):
    """One burst: deliveries_per_s, write_syscalls_per_delivery, cpu_s,
    lost (deliveries that did not arrive)."""
    blob = flood_blob(events)
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(subject, folder, subs)
        try:
            fan = Fan(server, subs)
            pid = server.proc.pid
            counter = WriteCounter(pid, use_perf)
            counter.start()
            cpu = cpu_ns(pid)
            began = time.monotonic()
            sender = threading.Thread(target=fan.pub.sendall, args=(blob,),
                                      daemon=True)
            sender.start()
            counts, last = read_all(fan.subs, events, RUN_LIMIT_S)
            cpu = cpu_ns(pid) - cpu
            writes = counter.stop()
            sender.join(10)
            fan.close()
        finally:
            server.proc.close()
    delivered = sum(min(c, events) for c in counts)
    return {"deliveries_per_s": delivered / (last - began) if last else 0.0,
            "write_syscalls_per_delivery": writes / max(delivered, 1),
            "cpu_s": cpu / 1e9, "lost": subs * events - delivered}


def latency_once(subject, subs, events, rate):
    """One steady run: p50_ms, p99_ms, lost."""
    sent = [None] * events
    arrived = [[None] * events for _ in range(subs)]
    rest = [b""] * subs

    def publish(sock, start):
        for i in range(events):
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sent[i] = time.monotonic()
            sock.sendall(b"e%d\n" % i)

    def seen(k, data, now):
        lines = (rest[k] + data).split(b"\n")
        rest[k] = lines.pop()
        for line in lines:
            # "SEQ eI" from a journal, "eI" from the ceiling.
            word = line.rsplit(b" ", 1)[-1]
            if word.startswith(b"e") and word[1:].isdigit():
                arrived[k][int(word[1:])] = now

    with tempfile.TemporaryDirectory() as folder:
        server = start_server(subject, folder, subs)
        try:
            fan = Fan(server, subs)
            start = time.monotonic() + 0.05
            publisher = threading.Thread(target=publish,
                                         args=(fan.pub, start), daemon=True)
            publisher.start()
            read_all(fan.subs, events, events / rate + 10.0, seen)
            publisher.join(10)
            fan.close()
        finally:
            server.proc.close()
    latencies = [(t - sent[i]) * 1000.0 for row in arrived
                 for i, t in enumerate(row)
                 if t is not None and sent[i] is not None]
    return {"p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "lost": subs * events - len(latencies)}


def idle_journal_once(subject, count):
    """RSS KiB and threads of a journal with count idle subscribers."""
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(subject, folder, count)
        try:
            fan = Fan(server, count)
            fan.pub.close()
            rss, threads = proc_status(server.proc.pid)
            fan.close()
        finally:
            server.proc.close()
    return {"rss_kib": rss, "threads": threads}


def idle_waiter_once(subject):
    """RSS KiB and threads of a wait-client waiting for its client (of the
    ceiling asleep in poll)."""
    if subject.label == CEILING:
        argv = [subject.path, "sleep", "--ms", "10000"]
        ready = rb"^sleeping$"
    else:
        argv = [subject.path, "--listen", "127.0.0.1:0", "--timeout-ms",
                "10000"]
        ready = rb"^listening on "
    proc = process.start(argv)
    try:
        proc.wait_line(re.compile(ready), timeout_s=10)
        rss, threads = proc_status(proc.pid)
    finally:
        proc.close()
    return {"rss_kib": rss, "threads": threads}


# ---------------------------------------------------------------------------
# deadlines


def deadline_argv(subject, deadline_ms, addr):
    if subject.label == CEILING:
        return [subject.path, "sleep", "--ms", deadline_ms]
    if subject.contract == "wait-client":
        return [subject.path, "--listen", "127.0.0.1:0", "--timeout-ms",
                deadline_ms]
    return [subject.path, "--connect", addr, "--timeout-ms", deadline_ms]


def spawn_and_wait(argv, limit_s=10.0):
    """(exit status, ms from the spawn to the exit) of argv, its output
    thrown away. posix_spawn and a blocking wait: the least this Python
    process adds to the program's own time (the ceiling row shows it)."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
        began = time.monotonic()
        pid = os.posix_spawn(argv[0], argv, os.environ,
                             file_actions=actions)
    finally:
        os.close(null)
    killer = threading.Timer(limit_s, os.kill, (pid, 9))
    killer.start()
    _, status = os.waitpid(pid, 0)
    ended = time.monotonic()
    killer.cancel()
    return os.waitstatus_to_exitcode(status), (ended - began) * 1000.0


def deadline_runs(subject, deadline_ms, count):
    """count runs; a dict of p50_ms, p99_ms, max_ms (lateness) and bad
    (runs that did not end by their deadline's exit status)."""
    # A listener nobody accepts from: the kernel completes each connection
    # into the backlog, and the program waits for a line that never comes.
    sock, addr = listener()
    late = []
    bad = 0
    want_rc = 0 if subject.label == CEILING else TIMED_OUT_RC
    try:
        argv = [str(a) for a in deadline_argv(subject, deadline_ms, addr)]
        for _ in range(count):
            rc, elapsed_ms = spawn_and_wait(argv)
            if rc != want_rc:
                bad += 1
                continue
            late.append(elapsed_ms - deadline_ms)
    finally:
        sock.close()
    return {"p50_ms": percentile(late, 50), "p99_ms": percentile(late, 99),
            "max_ms": max(late) if late else None, "bad": bad}


def winner_once(path, stagger_ms):
    """One connect race: accept_ms (program start -> the winner's accept,
    seen by its listener) and over_ms (accept_ms - the schedule)."""
    with peers.Server(None, fill_backlog=True, accepting=False) as hanging, \
            peers.Server(peers.seq(peers.send(b"hello\n"),
                                   peers.stall())) as answering:
        refused = peers.refused_addr()
        result = process.run([path, "--connect", hanging.addr, "--connect",
                              refused, "--connect", answering.addr,
                              "--stagger-ms", stagger_ms, "--timeout-ms",
                              5000], timeout_s=10)
        accepted = answering.conns[0].accepted_at if answering.conns else None
    accept_ms = None
    if accepted is not None and result.rc == 0:
        accept_ms = (accepted - result.t0) * 1000.0
    return {"accept_ms": accept_ms, "over_ms": None if accept_ms is None
            else accept_ms - stagger_ms}


# ---------------------------------------------------------------------------
# The run


def subjects(args):
    """The programs to measure, by contract: tracks.list's (one per
    contract with --quick), the --exe ones, and the ceiling."""
    entries = tracks.load()
    if args.track:
        entries = [e for e in entries if e.track in args.track]
    if args.quick:
        first = {}
        for e in entries:
            first.setdefault(e.contract, e)
        entries = list(first.values())
    chosen = [Subject(e.id, e.contract, e.path) for e in entries]
    if args.exe:
        name = args.name or Path(args.exe).name
        chosen.append(Subject(f"yours/{name}", args.contract,
                              Path(args.exe).resolve()))
    return chosen


def of(chosen, contract):
    return [s for s in chosen if s.contract == contract]


def plan(chosen, ceiling, size):
    """The steps of the run: (measure, subject, extra) in order."""
    steps = []
    for s in of(chosen, "dashboard") + [ceiling]:
        for tick in size["flood_ticks"]:
            steps.append(("flood", s, tick))
        steps.append(("instr", s, size["flood_ticks"][0]))
    for s in of(chosen, "journal") + [ceiling]:
        steps.append(("burst", s, None))
        steps += [("latency", s, k) for k in range(size["runs"])]
    for s in of(chosen, "journal"):
        for n in size["idle_counts"]:
            steps += [("idle", s, n)] * size["runs"]
    for s in of(chosen, "wait-client") + [ceiling]:
        steps.append(("waiter", s, None))
    for s in of(chosen, "fetch-line") + of(chosen, "wait-client") + \
            [ceiling]:
        steps.append(("deadline", s, None))
    for s in of(chosen, "happy-eyeballs"):
        steps += [("winner", s, k) for k in range(size["runs"])]
    return steps


def measure(steps, size, progress):
    """Runs every step; returns the raw runs, by measure and label."""
    raw = {}
    blob = flood_blob(size["flood_events"])
    for kind, s, extra in steps:
        progress.step(f"{kind}: {s.label}" +
                      (f" (tick {extra} ms)" if kind == "flood" else ""))
        if kind == "flood":
            run = flood_once(s, extra, size["flood_events"], blob)
            key = f"tick{extra}"
        elif kind == "instr":
            run = instructions_per_event(s, size["instr_events"], extra)
            key = "instr"
        elif kind == "burst":
            run = burst_once(s, size["burst_subs"], size["burst_events"],
                             size["perf"])
            key = "burst"
        elif kind == "latency":
            run = latency_once(s, size["latency_subs"],
                               size["latency_events"], size["latency_rate"])
            key = "latency"
        elif kind == "idle":
            run = idle_journal_once(s, extra)
            key = f"idle{extra}"
        elif kind == "waiter":
            run = idle_waiter_once(s)
            key = "waiter"
        elif kind == "deadline":
            run = deadline_runs(s, size["deadline_ms"], size["deadline_runs"])
            key = "deadline"
        else:
            run = winner_once(s.path, size["stagger_ms"])
            key = "winner"
        raw.setdefault(key, {}).setdefault(s.label, []).append(run)
    return raw


def fraction(value, ceiling):
    if value is None or not ceiling:
        return None
    return value / ceiling


def summarize(raw, size):
    """The results: one dict per measure, one row per label (the ceiling's
    row is labelled "ceiling")."""
    res = {"flood": {}, "fanout": {}, "idle": {}, "waiter": {},
           "deadline": {}, "winner": {}}
    for tick in size["flood_ticks"]:
        for label, runs in raw.get(f"tick{tick}", {}).items():
            row = res["flood"].setdefault(label, {})
            row[f"tick{tick}"] = runs[0]
    for label, runs in raw.get("instr", {}).items():
        res["flood"][label]["instructions_per_event"] = runs[0]
    # The ceiling has no tick: it runs once per tick value all the same,
    # so that each column is read against a run made at about that time.
    ceil = res["flood"].get(CEILING, {})
    for row in res["flood"].values():
        for tick in size["flood_ticks"]:
            row[f"tick{tick}"]["of_ceiling"] = fraction(
                row[f"tick{tick}"]["events_per_s"],
                ceil.get(f"tick{tick}", {}).get("events_per_s"))
    for label, runs in raw.get("burst", {}).items():
        res["fanout"][label] = dict(runs[0])
    for label, runs in raw.get("latency", {}).items():
        row = res["fanout"].setdefault(label, {})
        row.update({"p50_ms": median_of(runs, "p50_ms"),
                    "p99_ms": median_of(runs, "p99_ms"),
                    "latency_lost": median_of(runs, "lost")})
    ceil = res["fanout"].get(CEILING, {}).get("deliveries_per_s")
    for row in res["fanout"].values():
        row["of_ceiling"] = fraction(row["deliveries_per_s"], ceil)
    low, high = size["idle_counts"]
    for label in raw.get(f"idle{low}", {}):
        rows = {n: {k: median_of(raw[f"idle{n}"][label], k)
                    for k in ("rss_kib", "threads")} for n in (low, high)}
        res["idle"][label] = {
            "subscribers": [low, high],
            "rss_kib": [rows[low]["rss_kib"], rows[high]["rss_kib"]],
            "threads": [rows[low]["threads"], rows[high]["threads"]],
            "kib_per_conn": (rows[high]["rss_kib"] - rows[low]["rss_kib"])
            / (high - low),
            "threads_per_conn": (rows[high]["threads"] -
                                 rows[low]["threads"]) / (high - low)}
    for label, runs in raw.get("waiter", {}).items():
        res["waiter"][label] = dict(runs[0])
    for label, runs in raw.get("deadline", {}).items():
        res["deadline"][label] = dict(runs[0])
    for label, runs in raw.get("winner", {}).items():
        res["winner"][label] = {k: median_of(runs, k)
                                for k in ("accept_ms", "over_ms")}
        res["winner"][label]["runs"] = runs
    return res


# ---------------------------------------------------------------------------
# Output


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1e5:
        return f"{value / 1e6:.2f} M"
    return f"{value:,.{digits}f}"


def pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def table(title, head, rows, notes=()):
    print(f"\n{title}")
    if not rows:
        print("  (nothing measured)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows))
              for i, h in enumerate(head)]
    cells = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(r, widths)))
    print("  " + cells(head))
    print("  " + "-" * len(cells(head)))
    for r in rows:
        print("  " + cells(r))
    for note in notes:
        print("  " + note)


def print_tables(data):
    size = data["sizes"]
    res = data["results"]
    ticks = size["flood_ticks"]
    head = ["program"]
    for tick in ticks:
        head += [f"ev/s @{tick}", "of ceil", "late ms", "CPU s"]
    head += ["instr/ev", "complete"]
    rows = []
    for label, row in res["flood"].items():
        cells = [label]
        for tick in ticks:
            r = row[f"tick{tick}"]
            cells += [fmt(r["events_per_s"]), pct(r["of_ceiling"]),
                      fmt(r["worst_lateness_ms"]), fmt(r["cpu_s"], 2)]
        cells += [fmt(row["instructions_per_event"], 0),
                  fmt(all(row[f"tick{t}"]["complete"] for t in ticks))]
        rows.append(cells)
    table(f"Dashboard flood: {size['flood_events']:,} events of 13 bytes, "
          f"--tick-ms {' and '.join(map(str, ticks))}", head, rows,
          ["late = worst tick lateness (ms after K x tick); instr/ev: "
           f"{data['instructions_by']}, a {size['instr_events']:,}-event "
           "flood"])
    rows = [[label, fmt(r["deliveries_per_s"]), pct(r["of_ceiling"]),
             fmt(r["write_syscalls_per_delivery"], 4), fmt(r["cpu_s"], 2),
             fmt(r["lost"]), fmt(r.get("p50_ms"), 2), fmt(r.get("p99_ms"), 2)]
            for label, r in res["fanout"].items()]
    table(f"Journal fan-out: {size['burst_subs']} subscribers x "
          f"{size['burst_events']:,} events in a burst; latency: "
          f"{size['latency_subs']} subscribers, {size['latency_rate']} "
          f"events/s",
          ["program", "deliv/s", "of ceil", "writes/deliv", "CPU s",
           "lost", "p50 ms", "p99 ms"], rows,
          [f"writes: {data['writes_by']} (the journal's file writes "
           "included)"])
    low, high = size["idle_counts"]
    rows = [[label, fmt(r["rss_kib"][0]), fmt(r["rss_kib"][1]),
             fmt(r["threads"][0]), fmt(r["threads"][1]),
             fmt(r["kib_per_conn"]), fmt(r["threads_per_conn"], 2)]
            for label, r in res["idle"].items()]
    rows += [[label, fmt(r["rss_kib"]), "", fmt(r["threads"]), "", "", ""]
             for label, r in res["waiter"].items()]
    table(f"Idle: journals with {low} and {high} idle subscribers; "
          f"wait-client waiting",
          ["program", f"RSS KiB {low}", f"{high}", f"threads {low}",
           f"{high}", "KiB/conn", "threads/conn"], rows)
    rows = [[label, fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2),
             fmt(r["max_ms"], 2), fmt(r["bad"])]
            for label, r in res["deadline"].items()]
    table(f"Deadline lateness past --timeout-ms {size['deadline_ms']} "
          f"({size['deadline_runs']} runs)",
          ["program", "p50 ms", "p99 ms", "max ms", "wrong exit"], rows,
          ["spawn -> exit as seen from here; the ceiling row is a C "
           "program that only sleeps"])
    rows = [[label, fmt(r["accept_ms"], 2), fmt(r["over_ms"], 2)]
            for label, r in res["winner"].items()]
    table(f"Connect-to-winner: happy-eyeballs, --stagger-ms "
          f"{size['stagger_ms']}, hanging / refused / answering (median of "
          f"{size['runs']} runs)",
          ["program", "accept ms", "past schedule ms"], rows,
          ["accept = spawn -> the winner's listener accepts"])


def plot(data, folder):
    """One SVG per measure, one bar per program. Returns the files, or None
    without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    res = data["results"]
    top = data["sizes"]["flood_ticks"][0]
    charts = {
        "flood": ("dashboard flood, events/s (tick %d ms)" % top,
                  {k: r[f"tick{top}"]["events_per_s"]
                   for k, r in res["flood"].items()}),
        "instructions": ("dashboard, instructions per event",
                         {k: r["instructions_per_event"]
                          for k, r in res["flood"].items()}),
        "fanout": ("journal fan-out, deliveries/s",
                   {k: r["deliveries_per_s"] for k, r in res["fanout"].items()}),
        "writes": ("journal, write syscalls per delivery",
                   {k: r["write_syscalls_per_delivery"]
                    for k, r in res["fanout"].items()}),
        "idle": ("journal, KiB per idle subscriber",
                 {k: r["kib_per_conn"] for k, r in res["idle"].items()}),
        "deadline": ("lateness past the deadline, p99 ms",
                     {k: r["p99_ms"] for k, r in res["deadline"].items()}),
    }
    written = []
    for name, (title, values) in charts.items():
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            continue
        fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(values)))
        ax.barh(list(values), list(values.values()),
                color=["#999999" if k == CEILING else "#3b6ea5"
                       for k in values])
        ax.invert_yaxis()
        ax.set_title(title)
        fig.tight_layout()
        path = folder / f"{name}.svg"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one program per contract")
    parser.add_argument("--track", action="append",
                        help="only this track's programs (repeatable)")
    parser.add_argument("--exe", help="also measure this executable")
    parser.add_argument("--contract", help="with --exe: its contract")
    parser.add_argument("--name", help="with --exe: its row's name")
    parser.add_argument("--json", metavar="FILE",
                        help="where to write the results (default "
                             "BUILD/bench/results.json)")
    parser.add_argument("--no-plots", action="store_true",
                        help="no SVG plots")
    args = parser.parse_args()
    if bool(args.exe) != bool(args.contract):
        parser.error("--exe and --contract go together")
    if args.contract and args.contract not in tracks.contracts():
        parser.error(f"--contract must be one of "
                     f"{', '.join(sorted(tracks.contracts()))}")

    size = SIZES["quick" if args.quick else "full"]
    ceiling = Subject(CEILING, "ceiling", tracks.build_dir() / "bench" /
                      "ceiling")
    chosen = subjects(args)
    missing = [str(s.path) for s in chosen + [ceiling]
               if not os.access(s.path, os.X_OK)]
    if missing:
        print(f"bench: not built: {', '.join(missing)} (run make first)",
              file=sys.stderr)
        return 1
    out = tracks.build_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    steps = plan(chosen, ceiling, size)
    progress = Progress(len(steps))
    size = dict(size, perf=perf_can_count_syscalls())
    raw = measure(steps, size, progress)
    progress.finish()
    data = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), "commit": kit_commit(),
            "quick": args.quick,
            "instructions_by": "callgrind (valgrind --tool=callgrind, Ir)",
            "writes_by": "perf stat -e syscalls:sys_enter_{%s} -p PID"
            % ",".join(WRITE_SYSCALLS) if size["perf"]
            else "/proc/PID/io syscw (write, writev; not send)",
            "sizes": size,
            "programs": {s.label: {"contract": s.contract,
                                   "path": str(s.path)}
                         for s in chosen + [ceiling]},
            "results": summarize(raw, size),
            "seconds": round(time.monotonic() - began, 1)}
    m = data["machine"]
    print(f"bench {data['date']}: {m['cpu_model']}, nproc {m['nproc']}, "
          f"kit {data['commit']}, {data['seconds']:.0f} s")
    print_tables(data)
    path = Path(args.json) if args.json else out / "results.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"\nresults: {path}")
    if not args.no_plots:
        written = plot(data, out)
        if written is None:
            print("plots: none (matplotlib is missing: apt-get install "
                  "python3-matplotlib, or run make bench as root)")
        else:
            print(f"plots: {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
