"""The bench's measurements, one function per measure (bench/bench.py runs
them; bench/README.md says what each one measures and how).

Each *_once or *_runs function starts the program it is given (a Subject;
the ceiling's row runs bench/ceiling.c in the matching mode), drives it from
Python clients on loopback and returns a dict of numbers.
"""

import json
import os
import re
import selectors
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import journal as jr
from harness import peers, process

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


def perf_can_count_instructions():
    """Whether `perf stat -e instructions:u` counts here. Many virtual
    machines expose no hardware counters: perf then says <not supported>,
    and callgrind counts instead."""
    try:
        done = subprocess.run(["perf", "stat", "-x", ",", "-e",
                               "instructions:u", "true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and any(
        line.split(",")[0].isdigit() for line in done.stderr.splitlines())


def counted_instructions(subject, blob, tick_ms, how):
    """The user-space instructions of one flood of blob, counted by how:
    "perf" (the hardware counter, full speed) or "callgrind" (valgrind
    runs the program on a simulated CPU, some 50 times slower, and counts
    each instruction, Ir). None when the run failed."""
    if how == "perf":
        argv = ["perf", "stat", "-x", ",", "-e", "instructions:u"]
    else:
        argv = ["valgrind", "--tool=callgrind",
                "--callgrind-out-file=/dev/null"]
    argv += dashboard_argv(subject, "ADDR", tick_ms)
    _, _, rc, out, err = run_flood(argv, blob, limit_s=4 * RUN_LIMIT_S)
    os.unlink(out)
    if rc != 0:
        return None
    if how == "perf":
        counts = [int(line.split(",")[0]) for line in err.splitlines()
                  if line.split(",")[0].isdigit()]
        return counts[-1] if counts else None
    found = CALLGRIND_IR.search(err)
    return int(found.group(1)) if found else None


def instructions_per_event(subject, count, tick_ms, how):
    """(instructions of a flood of count events - those of an empty flood)
    / count: start-up, the ticks and the exit cancel out."""
    full = counted_instructions(subject, flood_blob(count), tick_ms, how)
    empty = counted_instructions(subject, b"", tick_ms, how)
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
