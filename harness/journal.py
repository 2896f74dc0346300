"""journal: what the journal tests need besides processes and peers.

    path = tmp_path / "j.log"
    prefill(path, 200_000, lambda seq: b"old %d" % seq)   # "SEQ EVENT\\n"
    server = Journal.start(argv)          # waits for "listening on ..."
    pub = Publisher(server.addr)
    pub.publish(b"hello")
    sub = Subscriber(server.addr)
    sub.read_until_seq(200_001)
    check_records(sub.records, expected_event, 200_001, "the subscriber")

and the reader of an strace log (strace -f -y -ttt ...), used to see when
the program reads and writes its journal file.

Records are (seq, event) with seq an int and event bytes. Standard library
only.
"""

import os
import re
import select
import socket
import struct
import threading
import time
from pathlib import Path

from . import peers, process

LISTENING = re.compile(rb"^listening on (\S+):(\d+)$")


# ---------------------------------------------------------------------------
# The journal file


def record(seq, event):
    """One journal line: b"SEQ EVENT\\n"."""
    return b"%d %s\n" % (seq, event)


def prefill(path, count, make_event, first=1):
    """Writes records first .. first+count-1 (events from make_event(seq))
    to path, replacing it. Returns the number of bytes written."""
    data = b"".join(record(s, make_event(s))
                    for s in range(first, first + count))
    Path(path).write_bytes(data)
    return len(data)


def parse_journal(data):
    """Checks journal bytes. Returns (records, problem): the records of the
    complete, valid lines from the start, and None or a sentence saying
    what is wrong first (a torn last line, a line that is not a record, a
    SEQ out of order)."""
    records = []
    lines = data.split(b"\n")
    torn = lines.pop()
    for number, line in enumerate(lines, 1):
        seq, space, event = line.partition(b" ")
        if not (space and seq.isdigit() and not seq.startswith(b"0")):
            return records, (f"line {number} is not 'SEQ EVENT': "
                             f"{_short(line)}")
        if int(seq) != len(records) + 1:
            return records, (f"line {number} has SEQ {int(seq)}, expected "
                             f"{len(records) + 1}")
        records.append((int(seq), event))
    if torn:
        return records, (f"the file ends with a partial line (no '\\n') "
                         f"after {len(records)} records: {_short(torn)}")
    return records, None


def _short(data, limit=80):
    if len(data) > limit:
        return repr(data[:limit]) + f"... ({len(data)} bytes)"
    return repr(data)


def read_journal(path):
    """(records, problem) of the file at path (see parse_journal); a
    missing file is (None, "the file does not exist")."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, "the file does not exist"
    return parse_journal(data)


def first_difference(records, expected, count):
    """None when records are exactly (1, expected(1)) .. (count,
    expected(count)); otherwise a sentence naming the first problem: a
    gap, a duplicate, a reordering, a wrong event, missing or extra
    records."""
    seen = set()
    for i, (seq, event) in enumerate(records):
        want = i + 1
        if seq == want:
            if event != expected(seq):
                return (f"record #{want} is SEQ {seq} with event "
                        f"{_short(event)}, expected {_short(expected(seq))}")
            seen.add(seq)
            continue
        if seq in seen:
            return (f"SEQ {seq} came twice (a duplicate): after SEQ "
                    f"{want - 1} came SEQ {seq} again")
        if seq > want:
            missing = (f"SEQ {want} is" if seq == want + 1 else
                       f"SEQs {want} .. {seq - 1} are")
            return (f"after SEQ {want - 1} came SEQ {seq}: {missing} "
                    f"missing (a gap)")
        return f"after SEQ {want - 1} came SEQ {seq} (out of order)"
    if len(records) < count:
        last = records[-1][0] if records else 0
        return (f"only {len(records)} of {count} records (the last is SEQ "
                f"{last})")
    if len(records) > count:
        return (f"{len(records)} records, expected {count}: extra from SEQ "
                f"{records[count][0]}")
    return None


# ---------------------------------------------------------------------------
# The server


class Journal:
    """A running journal: proc (process.Proc) and addr ("HOST:PORT" read
    from its 'listening on' line)."""

    def __init__(self, proc, addr, listening_ms):
        self.proc = proc
        self.addr = addr
        self.listening_ms = listening_ms

    @classmethod
    def start(cls, argv, timeout_s=10.0, **kwargs):
        """Starts argv (process.start arguments in kwargs) and waits for
        its 'listening on HOST:PORT' line (JR-1)."""
        proc = process.start(argv, **kwargs)
        t_ms, line = proc.wait_line(LISTENING, timeout_s=timeout_s,
                                    what="'listening on HOST:PORT' (JR-1)")
        host, port = LISTENING.match(line).groups()
        host = host.decode()
        if host in ("0.0.0.0", "localhost"):
            host = "127.0.0.1"
        return cls(proc, f"{host}:{int(port)}", t_ms)

    def stop(self, sig, timeout_s=10.0):
        """Sends sig and waits for the exit; returns the Result."""
        self.proc.signal(sig)
        return self.proc.wait(timeout_s)


# ---------------------------------------------------------------------------
# Clients


class Publisher:
    """A PUB client: a peers.Client that says PUB first. sndbuf: a small
    SO_SNDBUF, so that a server that stops reading blocks this publisher
    soon (not after megabytes).

    publish() sends one event; send_timed() sends bytes and returns how
    long the send blocked, in ms."""

    def __init__(self, addr, sndbuf=None):
        self.client = peers.Client(addr, sndbuf=sndbuf)
        self.sock = self.client.sock
        self.client.send(b"PUB\n")

    def publish(self, event):
        self.client.send(event + b"\n")

    def send(self, data):
        self.client.send(data)

    def send_timed(self, data, limit_s):
        """Sends data; returns the ms it took. Gives up after limit_s
        seconds of not being able to send and returns None (the server
        does not read)."""
        start = time.monotonic()
        view = memoryview(data)
        self.sock.setblocking(False)
        try:
            while view:
                left = start + limit_s - time.monotonic()
                if left <= 0:
                    return None
                try:
                    n = self.sock.send(view)
                    view = view[n:]
                except BlockingIOError:
                    select.select([], [self.sock], [], min(left, 0.05))
        finally:
            self.sock.setblocking(True)
        return (time.monotonic() - start) * 1000.0

    def close(self):
        self.client.close()


class Subscriber:
    """A SUB client that collects records.

    rcvbuf: its receive buffer (harness.client.set_rcvbuf): a small one
    makes a slow reader, a large one holds a burst however late it reads. The subscriber reads only
    when asked: read_until_seq() reads (optionally paced at rate_bps bytes
    a second) until it has the record of a given SEQ."""

    def __init__(self, addr, rcvbuf=None, role=b"SUB"):
        self.client = peers.Client(addr, rcvbuf=rcvbuf)
        self.sock = self.client.sock
        self.records = []
        self.max_seq = 0
        self.received = 0         # bytes
        self.first_at = None      # time.monotonic() of the first byte
        self.closed_how = None
        self._buf = b""
        self.sock.sendall(role + b"\n")
        self.sent_role_at = time.monotonic()

    def _take(self, data):
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.received += len(data)
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        for line in lines:
            seq, _, event = line.partition(b" ")
            if not seq.isdigit():
                raise AssertionError(
                    f"a subscriber got a line that is not 'SEQ EVENT' "
                    f"(JR-4): {_short(line)} after "
                    f"{len(self.records)} records")
            self.records.append((int(seq), event))
            self.max_seq = max(self.max_seq, int(seq))

    def read_some(self, timeout_s, max_bytes=65536):
        """One read of at most max_bytes; False if nothing came (timeout
        or closed: closed_how is then "eof" or "reset")."""
        if self.closed_how:
            return False
        ready, _, _ = select.select([self.sock], [], [], max(timeout_s, 0))
        if not ready:
            return False
        try:
            data = self.sock.recv(max_bytes)
        except ConnectionResetError:
            self.closed_how = "reset"
            return False
        if not data:
            self.closed_how = "eof"
            return False
        self._take(data)
        return True

    def read_until_seq(self, seq, timeout_s, rate_bps=None):
        """Reads until a record with SEQ >= seq arrived; returns True, or
        False when timeout_s passed or the server closed. With rate_bps,
        reads no faster than that many bytes a second from the first byte
        this call receives (a slow reader)."""
        deadline = time.monotonic() + timeout_s
        base = self.received
        paced_from = None
        while self.max_seq < seq:
            now = time.monotonic()
            if now >= deadline:
                return False
            size = 65536
            if rate_bps and paced_from is not None:
                due = paced_from + (self.received - base) / rate_bps
                if due > now:
                    time.sleep(min(due - now, deadline - now))
                    continue
                size = 16384
            elif rate_bps:
                size = 1
            if not self.read_some(deadline - now, size) and self.closed_how:
                return False
            if rate_bps and paced_from is None and self.received > base:
                paced_from = time.monotonic()
        return True

    def reader(self, seq, timeout_s, rate_bps=None):
        """Starts read_until_seq() in a thread; returns the thread, whose
        .result is read_until_seq's value once it has ended, or whose
        .error is the AssertionError it raised (a line that is not a
        record)."""
        def run():
            try:
                thread.result = self.read_until_seq(seq, timeout_s, rate_bps)
            except AssertionError as exc:
                thread.error = exc
        thread = threading.Thread(target=run, daemon=True)
        thread.result = None
        thread.error = None
        thread.start()
        return thread

    def read_until_closed(self, timeout_s):
        """Reads until the server closes; True if it did within timeout_s."""
        deadline = time.monotonic() + timeout_s
        while not self.closed_how:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.read_some(left)
        return True

    def reset(self):
        self.client.reset()

    def close(self):
        self.client.close()


def wait_for_records(sub, seq, timeout_s, what):
    """Reads until the record of `seq` came; AssertionError (saying `what`
    was expected) otherwise."""
    if not sub.read_until_seq(seq, timeout_s):
        why = (f"the journal closed the connection ({sub.closed_how})"
               if sub.closed_how else f"nothing more came within "
               f"{timeout_s:g} s")
        raise AssertionError(
            f"{what}: waited for the record SEQ {seq}, but {why}; the "
            f"subscriber has {len(sub.records)} records, the last "
            f"{sub.records[-3:]!r}")


def wait_for_file(path, predicate, timeout_s, interval_s=0.005):
    """Polls the file until predicate(bytes) is true; returns the
    time.monotonic() when it first was, or None."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            data = None
        now = time.monotonic()
        if data is not None and predicate(data):
            return now
        if now >= deadline:
            return None
        time.sleep(interval_s)


def reset_socket(sock):
    """Closes sock with a RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


def socket_buffer_max():
    """The most a TCP socket may buffer for sending on this machine
    (net.ipv4.tcp_wmem's maximum), 4 MiB if unknown. A subscriber that
    does not read absorbs about this much before the journal holds any
    backlog of its own."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


class Steady:
    """A thread publishing make_event(i), i = 1, 2 ..., every every_ms on an
    absolute schedule, until stop(). times[i-1] is the time.time() just
    before event i was sent."""

    def __init__(self, pub, make_event, every_ms):
        self.pub = pub
        self.make_event = make_event
        self.every_ms = every_ms
        self.count = 0
        self.times = []
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                i = self.count + 1
                self.times.append(time.time())
                self.pub.publish(self.make_event(i))
                self.count = i
                due = start + i * self.every_ms / 1000.0
                self._stop.wait(max(0.0, due - time.monotonic()))
        except OSError as exc:
            self.error = exc

    def stop(self):
        """Stops and returns how many events were published."""
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise AssertionError(f"publishing failed after {self.count} "
                                 f"events: {self.error}")
        return self.count


# ---------------------------------------------------------------------------
# strace


STRACE_CALLS = ("read", "pread64", "readv", "preadv", "preadv2", "write",
                "pwrite64", "writev", "pwritev", "pwritev2", "sendfile",
                "sendfile64", "splice", "copy_file_range")
READS = {"read", "pread64", "readv", "preadv", "preadv2"}
WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
# Calls that move bytes out of a file without a read(): their in-fd is the
# second argument (sendfile(out, in, ...), splice(in, ..., out, ...) is the
# first), so they are matched on any fd argument naming the file.
COPIES = {"sendfile", "sendfile64", "splice", "copy_file_range"}


def strace_argv(log_path, argv):
    """argv run under strace, logging every read and write with its fd's
    path (-y) and a wall-clock time (-ttt), following threads (-f).
    LeakSanitizer cannot run under ptrace and would abort an ASan build, so
    leak checking is off for this one run (-E sets the program's
    environment)."""
    return ["strace", "-f", "-y", "-ttt", "-s", "40", "-o", str(log_path),
            "-E", "ASAN_OPTIONS=detect_leaks=0",
            "-e", "trace=" + ",".join(STRACE_CALLS), "--", *argv]


def traced_child(strace_pid, timeout_s=5.0):
    """The pid of the program strace started (strace blocks SIGTERM and
    SIGINT itself when it logs to a file, so signals go to the program)."""
    deadline = time.monotonic() + timeout_s
    path = Path(f"/proc/{strace_pid}/task/{strace_pid}/children")
    while True:
        try:
            words = path.read_text().split()
        except OSError:
            words = []
        if words:
            return int(words[0])
        if time.monotonic() >= deadline:
            raise AssertionError(f"strace ({strace_pid}) has no child")
        time.sleep(0.01)


class Call:
    """One system call from an strace log: pid, name, start and end
    (time.time() seconds), text (the arguments as strace wrote them)."""

    def __init__(self, pid, name, start, text):
        self.pid = pid
        self.name = name
        self.start = start
        self.end = start
        self.text = text

    def fd_paths(self):
        """The paths strace -y shows for the fd arguments: 3</tmp/j.log>."""
        return re.findall(r"\d+<([^>]*)>", self.text)

    def first_fd_path(self):
        m = re.match(r"\d+<([^>]*)>", self.text)
        return m.group(1) if m else None

    def __repr__(self):
        return f"<{self.name} at {self.start:.6f} {self.text[:60]!r}>"


_LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d+\.\d+)\s+(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")


def parse_strace(text):
    """The calls of an strace -f -ttt log, in the order they started. A
    call split by another thread ('<unfinished ...>' then '<... NAME
    resumed>') becomes one Call whose end is the resume time."""
    calls = []
    open_calls = {}     # pid -> Call waiting for its resume
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
        r = _RESUMED.match(rest)
        if r:
            call = open_calls.pop(pid, None)
            if call is not None:
                call.end = t
                call.text += r.group(2)
            continue
        c = _CALL.match(rest)
        if not c:
            continue        # signals, exits
        call = Call(pid, c.group(1), t, c.group(2))
        if rest.endswith("<unfinished ...>"):
            open_calls[pid] = call
        calls.append(call)
    return calls


def file_calls(calls, path):
    """(reads, writes) on the file at path: lists of Calls. A copy call
    (sendfile ...) that names the file counts as a read."""
    real = os.path.realpath(path)
    reads, writes = [], []
    for call in calls:
        if call.name in READS or call.name in WRITES:
            if call.first_fd_path() != real:
                continue
            (reads if call.name in READS else writes).append(call)
        elif call.name in COPIES and real in call.fd_paths():
            reads.append(call)
    return reads, writes
