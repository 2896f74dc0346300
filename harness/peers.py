"""peers: scripted TCP peers on 127.0.0.1, to make each situation happen.

A program that connects is tested against a Server that plays a script:

    with Server(seq(expect_line(), trickle(b"hello\\n", every_ms=20))) as srv:
        result = run([prog, "--connect", srv.addr, "--send", "hi"])
        conn = srv.wait_conn()            # the first accepted connection
        conn.received                     # b"hi\\n"

A program that listens is tested with Clients:

    c = Client(addr)
    c.send_line(b"SUB")
    c.read_line(timeout_s=2)              # b"1 first event"

Special addresses: backlog_full() (a connect there hangs: the listener's
backlog is full and the kernel drops the SYNs), refused_addr() (a connect
there is refused at once).

Threads: a Server accepts in a thread of its own and gives each connection
two threads: one that reads everything the program sends (so the program
never blocks on a full buffer, and so the moment it closes is recorded) and
one that runs the script. Everything is closed at the end of the test even
if the test forgets (cleanup.py).

Time: every record keeps the absolute time.monotonic() (attributes without
a suffix: accepted_at, closed_at, chunks) and offers the same in ms since a
base (attributes ending in _ms). The base is the server's `clock`: a Proc
(its t0, i.e. ms since the program was spawned), a time.monotonic() value,
or None for the moment the Server was created. The clock can be set after
the fact (server.clock = proc), since a Server must exist before the program
that connects to it is started.
"""

import contextlib
import os
import re
import select
import socket
import struct
import threading
import time

from . import cleanup

_POLL_S = 0.05   # how often waiting threads check whether to stop


def poll_until(predicate, timeout_s, interval_s=0.005):
    """Polls predicate() until it is true or timeout_s passed; returns
    whether it became true. For a wait that only bounds how long a test
    gives a program to act, where the test's own checks come after."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


def wait_until(predicate, timeout_s, what, interval_s=0.005):
    """Polls predicate() until it is true; returns its value.

    Raises AssertionError "waited N s for WHAT" when timeout_s passes
    first; `what` should say what the test was waiting for, in words."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}, "
                                 f"in vain")
        time.sleep(interval_s)


def _base_of(clock, default):
    if clock is None:
        return default
    t0 = getattr(clock, "t0", None)
    return float(t0 if t0 is not None else clock)


def _ms(t, base):
    return None if t is None else (t - base) * 1000.0


def _addr_text(sockaddr):
    return f"{sockaddr[0]}:{sockaddr[1]}"


# ---------------------------------------------------------------------------
# One accepted connection


class Conn:
    """One connection a Server accepted, as seen from the server's side.

    Records (absolute time.monotonic() seconds; each has an _ms twin in ms
    since the server's clock base):
      accepted_at   when accept() returned it
      chunks        [(t, bytes)] every chunk received, in order
      sent          [(t, bytes)] every chunk the script sent, t after send
      closed_at     when the program's close was first seen (EOF or reset),
                    None while it is open
    close_how: "eof" or "reset" once closed_at is set.
    received: every byte received, joined.
    peer: the program's address "HOST:PORT".

    Script side (called from the script's thread): send(), sleep(),
    sleep_until_ms(), wait_received(), wait_closed(), shutdown_write(),
    reset(). Each returns False (or stops) as soon as the server is closing
    or the program has gone, so scripts end promptly.
    """

    def __init__(self, server, sock, peer, read=True):
        self.server = server
        self.reading = read
        self.sock = sock
        self.peer = _addr_text(peer)
        self.peer_port = peer[1]
        self.accepted_at = time.monotonic()
        self.chunks = []
        self.sent = []
        self.closed_at = None
        self.close_how = None
        self.script_error = None
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._want = None          # "reset" or "close": done by the reader
        self._order_lock = threading.Lock()   # guards _want and the pipe
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- records ----------------------------------------------------------

    def _base(self):
        return self.server.base()

    @property
    def received(self):
        """Every byte received from the program so far."""
        with self._cond:
            return b"".join(c for _, c in self.chunks)

    @property
    def accepted_at_ms(self):
        return _ms(self.accepted_at, self._base())

    @property
    def closed_at_ms(self):
        return _ms(self.closed_at, self._base())

    @property
    def chunks_ms(self):
        base = self._base()
        with self._cond:
            return [(_ms(t, base), c) for t, c in self.chunks]

    @property
    def sent_ms(self):
        base = self._base()
        with self._cond:
            return [(_ms(t, base), c) for t, c in self.sent]

    @property
    def closed(self):
        """True once the program's close (EOF or reset) was seen."""
        return self.closed_at is not None

    @property
    def stopping(self):
        """True when the script should stop: the server is closing, the
        program closed, or the script reset the connection."""
        return self._stopping.is_set() or self._want is not None

    # -- the reader thread ------------------------------------------------

    def _read_loop(self):
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while self._want is None and self.reading:
                poller.poll()
                if self._want is not None:
                    break
                try:
                    data = self.sock.recv(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    self._mark_closed("reset")
                    break
                except OSError:
                    self._mark_closed("reset")
                    break
                if not data:
                    self._mark_closed("eof")
                    break
                now = time.monotonic()
                with self._cond:
                    self.chunks.append((now, data))
                    self._cond.notify_all()
            # After the program closed (or when told not to read), wait
            # for the order to close ours.
            poller.unregister(self.sock)
            while self._want is None:
                poller.poll()
        finally:
            self._finish()

    def _mark_closed(self, how):
        now = time.monotonic()
        with self._cond:
            if self.closed_at is None:
                self.closed_at = now
                self.close_how = how
            self._cond.notify_all()

    def _finish(self):
        if self._want == "reset":
            # SO_LINGER on with a zero time: close() sends a RST and drops
            # whatever is unsent, instead of the orderly FIN.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()
        with self._order_lock:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_w = None
        with self._cond:
            self._cond.notify_all()

    def _order(self, what):
        """Asks the reader thread to close the socket (it owns the fd, so no
        other thread can see it reused) and waits until it has."""
        with self._order_lock:
            if self._want is None and self._wake_w is not None:
                self._want = what
                os.write(self._wake_w, b"x")
        self._stopping.set()
        if threading.current_thread() is not self._reader:
            self._reader.join(5.0)

    # -- for scripts ------------------------------------------------------

    def sleep(self, seconds):
        """Sleeps; returns False at once if the script should stop."""
        return not self._stopping.wait(max(seconds, 0)) and not self.stopping

    def sleep_until_ms(self, ms_after_accept):
        """Sleeps until ms_after_accept ms after the accept (an absolute
        schedule: a late step does not delay the next ones). Returns False
        if the script should stop."""
        due = self.accepted_at + ms_after_accept / 1000.0
        return self.sleep(due - time.monotonic())

    def send(self, data):
        """Sends all of data unless the script must stop or the program
        went away; returns True when everything was sent.

        Never blocks for long: a program that does not read makes this
        wait in short slices, checking whether to stop."""
        view = memoryview(bytes(data))
        while view:
            if self.stopping:
                return False
            try:
                _, writable, _ = select.select([], [self.sock], [], _POLL_S)
                if not writable:
                    continue
                n = self.sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                return False   # reset, broken pipe, or already closed
            with self._cond:
                self.sent.append((time.monotonic(), bytes(view[:n])))
            view = view[n:]
        return True

    def wait_received(self, what, timeout_s=5.0):
        """Waits until the received bytes satisfy `what`: bytes that must
        occur in them, an int count of bytes, a compiled regex, or a
        function received -> bool. Returns True, or False on timeout, on
        the program's close, or when the script must stop."""
        if isinstance(what, int):
            n = what
            what = lambda data: len(data) >= n  # noqa: E731
        elif isinstance(what, (bytes, bytearray)):
            needle = bytes(what)
            what = lambda data: needle in data  # noqa: E731
        elif isinstance(what, re.Pattern):
            rx = what
            what = lambda data: rx.search(data) is not None  # noqa: E731
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if what(b"".join(c for _, c in self.chunks)):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self.closed_at is not None or self.stopping:
                    return False
                self._cond.wait(min(left, _POLL_S))

    def wait_closed(self, timeout_s=5.0):
        """Waits until the program closes the connection; True if it did."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.closed_at is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return self.closed_at is not None
                self._cond.wait(min(left, _POLL_S))
        return True

    def shutdown_write(self):
        """Sends FIN (the program reads EOF) but keeps reading, so the
        program's own close is still seen; the socket is closed with the
        server."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def reset(self):
        """Closes with a RST (SO_LINGER 0): the program's next read or write
        fails with ECONNRESET. Returns when the RST has been sent."""
        self._order("reset")

    def close(self):
        """Closes the connection (the server does this at the end)."""
        self._order("close")

    def __repr__(self):
        return (f"<Conn from {self.peer} received={len(self.received)}B "
                f"closed={self.close_how}>")


# ---------------------------------------------------------------------------
# Scripts: functions of a Conn, run in the connection's own thread. A script
# that returns leaves the connection open (still read and recorded) until
# the program closes it or the server closes.


def seq(*scripts):
    """Runs scripts one after the other, stopping early if told to."""
    def run(conn):
        for script in scripts:
            if conn.stopping:
                return
            script(conn)
    run.__name__ = "seq(" + ", ".join(
        getattr(s, "__name__", "?") for s in scripts) + ")"
    return run


def _named(name, fn):
    fn.__name__ = name
    return fn


def send(data):
    """Sends data at once."""
    return _named(f"send({data[:20]!r})", lambda conn: conn.send(data))


def delay(ms):
    """Waits ms milliseconds."""
    return _named(f"delay({ms})", lambda conn: conn.sleep(ms / 1000.0))


def trickle(data, every_ms, chunk=1):
    """Sends data `chunk` bytes at a time, the first at once, then one
    every every_ms ms on an absolute schedule (no drift under load)."""
    def run(conn):
        start = time.monotonic()
        for k, i in enumerate(range(0, len(data), chunk)):
            due = start + k * every_ms / 1000.0
            if not conn.sleep(due - time.monotonic()):
                return
            if not conn.send(data[i:i + chunk]):
                return
    return _named(f"trickle({len(data)}B every {every_ms} ms)", run)


def stall():
    """Sends nothing and keeps the connection open (still reading, so the
    program's close is seen) until the program closes or the server
    closes. Nothing composed after it runs before that."""
    def run(conn):
        conn.wait_closed(timeout_s=3600)
    return _named("stall()", run)


def close_after(data=b""):
    """Sends data, then FIN (the program reads EOF after data). The server
    keeps reading so the program's own close is still recorded."""
    def run(conn):
        if conn.send(data):
            conn.shutdown_write()
    return _named(f"close_after({data[:20]!r})", run)


def reset_after(data=b"", delay_ms=0):
    """Sends data, waits delay_ms, then closes with a RST (SO_LINGER 0)."""
    def run(conn):
        if conn.send(data) and conn.sleep(delay_ms / 1000.0):
            conn.reset()
    return _named(f"reset_after({data[:20]!r}, {delay_ms})", run)


def expect(what, timeout_s=5.0):
    """Waits until the program has sent `what` (see Conn.wait_received).
    If it does not come, the rest of a seq() still runs: the test decides
    what that means by looking at conn.received."""
    return _named(f"expect({what!r})",
                  lambda conn: conn.wait_received(what, timeout_s))


def expect_line(timeout_s=5.0):
    """Waits until the program has sent a whole line (a '\\n')."""
    return expect(b"\n", timeout_s)


def send_at(schedule, since="accept"):
    """Sends each (t_ms, data) of schedule at t_ms ms after the accept
    (since="accept") or after the server's clock base (since="clock", e.g.
    the program's spawn when server.clock is its Proc)."""
    def run(conn):
        base = conn.accepted_at if since == "accept" else conn.server.base()
        for t_ms, data in schedule:
            if not conn.sleep(base + t_ms / 1000.0 - time.monotonic()):
                return
            if not conn.send(data):
                return
    return _named(f"send_at({len(schedule)} chunks)", run)


def flood(make_line, bytes_per_s, duration_ms):
    """Sends lines make_line(0), make_line(1) ... ('\\n' added when
    missing) at a steady bytes_per_s for duration_ms ms, in slices every
    10 ms. Each send is recorded in conn.sent with its time."""
    def run(conn):
        start = time.monotonic()
        end = start + duration_ms / 1000.0
        sent = 0
        i = 0
        while True:
            now = time.monotonic()
            if now >= end:
                return
            budget = int((now - start) * bytes_per_s) - sent
            batch = []
            while budget > 0:
                line = make_line(i)
                i += 1
                if not line.endswith(b"\n"):
                    line += b"\n"
                batch.append(line)
                budget -= len(line)
                sent += len(line)
            if batch and not conn.send(b"".join(batch)):
                return
            if not conn.sleep(0.010):
                return
    return _named(f"flood({bytes_per_s} B/s for {duration_ms} ms)", run)


def echo():
    """Sends back every byte received, as it arrives, until the program
    closes or the server closes."""
    def run(conn):
        done = 0
        while not conn.stopping:
            conn.wait_received(done + 1, timeout_s=_POLL_S)
            data = conn.received
            if len(data) > done:
                if not conn.send(data[done:]):
                    return
                done = len(data)
            elif conn.closed:
                return
    return _named("echo()", run)


# ---------------------------------------------------------------------------
# Server


class Server:
    """A listening socket on 127.0.0.1 (port chosen by the kernel) that
    plays `script` on every connection it accepts.

    script: a function of a Conn (see the scripts above), a list of them
    (run as seq), or None (accept and just read, like stall()).
    clock: the time base of the _ms records (a Proc, a time.monotonic()
    value, or None for the Server's creation); may be set later.
    fill_backlog: fill the listen backlog first, so that a connect hangs
    until the server starts accepting (see backlog_full()).
    accepting: start accepting at once (True) or only when
    start_accepting() is called; accept_after_ms starts it after that many
    ms from the Server's creation.
    read: read what the program sends (default). With read=False nothing
    is read, so a program that sends much soon blocks (use a small rcvbuf
    too); the program's close is then not recorded either.
    rcvbuf: SO_RCVBUF of the accepted sockets (set on the listener).
    mss: TCP_MAXSEG of the listener, which the program's side adopts. On
    loopback the segments are 64 kB and the sender's buffer grows to MBs,
    so a program's send never blocks; with read=False, rcvbuf=2048 and
    mss=300 a send blocks after about 30 kB (see slow_reader()).

    addr: "127.0.0.1:PORT". conns: the accepted connections, in order.
    A context manager; close() stops every script and closes every socket.
    """

    def __init__(self, script=None, clock=None, fill_backlog=False,
                 accepting=True, accept_after_ms=None, read=True,
                 rcvbuf=None, mss=None, family=socket.AF_INET):
        if isinstance(script, (list, tuple)):
            script = seq(*script)
        self.script = script
        self.clock = clock
        self.created_at = time.monotonic()
        self.conns = []
        self.errors = []
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._accepting = threading.Event()
        self._filler_socks = []
        self._filler_ports = set()
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.read = read
        self.sock.bind((host, 0))
        port = self.sock.getsockname()[1]
        self.port = port
        self.addr = (f"{host}:{port}" if family == socket.AF_INET
                     else f"[{host}]:{port}")
        cleanup.register(self)
        if fill_backlog:
            # Backlog 0: the kernel then queues a single connection.
            self.sock.listen(0)
            self._fill()
        else:
            self.sock.listen(128)
        self._thread = threading.Thread(target=self._accept_loop,
                                        daemon=True)
        self._thread.start()
        if accepting and accept_after_ms is None:
            self.start_accepting()
        elif accept_after_ms is not None:
            timer = threading.Timer(accept_after_ms / 1000.0,
                                    self.start_accepting)
            timer.daemon = True
            timer.start()

    def base(self):
        """The time base of the _ms records (time.monotonic() seconds)."""
        return _base_of(self.clock, self.created_at)

    # -- backlog ----------------------------------------------------------

    def _fill(self):
        """Connects until a connect no longer completes: the accept queue
        is full and the kernel drops further SYNs (a connect then hangs, as
        it does in front of an overloaded server)."""
        for _ in range(64):
            probe = socket.socket(self.sock.family, socket.SOCK_STREAM)
            probe.setblocking(False)
            probe.connect_ex(self.sock.getsockname()[:2])
            _, done, _ = select.select([], [probe], [], 0.3)
            if not done:
                probe.close()   # still in SYN_SENT: the queue is full
                return
            if probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                probe.close()
                raise RuntimeError("could not fill the listen backlog: a "
                                   "connect failed instead of hanging")
            self._filler_socks.append(probe)
            self._filler_ports.add(probe.getsockname()[1])
        raise RuntimeError("could not fill the listen backlog: 64 connects "
                           "all completed")

    def start_accepting(self):
        """Starts accepting (the fillers of a full backlog are accepted and
        dropped first, which lets the waiting connects through)."""
        self._accepting.set()

    # -- accepting --------------------------------------------------------

    def _accept_loop(self):
        while not self._closing.is_set():
            if not self._accepting.wait(_POLL_S):
                continue
            try:
                ready, _, _ = select.select([self.sock], [], [], _POLL_S)
            except (OSError, ValueError):
                return
            if not ready or self._closing.is_set():
                continue
            try:
                sock, peer = self.sock.accept()
            except OSError:
                continue
            if peer[1] in self._filler_ports:
                sock.close()
                continue
            conn = Conn(self, sock, peer, read=self.read)
            with self._cond:
                self.conns.append(conn)
                self._cond.notify_all()
            threading.Thread(target=self._play, args=(conn,),
                             daemon=True).start()

    def _play(self, conn):
        try:
            if self.script is not None:
                self.script(conn)
        except Exception as exc:   # a bug in a script: report it at close
            conn.script_error = exc
            self.errors.append(exc)

    def wait_conn(self, index=0, timeout_s=5.0):
        """The index-th accepted connection (0 = first), waiting for it.

        Raises AssertionError when the program has not connected within
        timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.conns) <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected the program to connect to {self.addr} "
                        f"(connection #{index + 1}), but it did not within "
                        f"{timeout_s:g} s ({len(self.conns)} connections "
                        f"so far)")
                self._cond.wait(left)
            return self.conns[index]

    def close(self):
        """Stops accepting, stops every script, closes every socket.
        Raises the first exception a script raised, if any (a bug in the
        test, not in the program)."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._thread.join(2.0)
        self.sock.close()
        for s in self._filler_socks:
            s.close()
        with self._cond:
            conns = list(self.conns)
        for conn in conns:
            conn._stopping.set()
            conn.close()
        if self.errors:
            raise self.errors[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"<Server {self.addr} conns={len(self.conns)}>"


def slow_reader(script=None, **options):
    """A Server that reads nothing, with a tiny receive buffer and small
    segments: a program sending to it blocks after about 30 kB (measured
    on Linux 6.x; 2.5 MB without these settings). Its close is not
    recorded (nothing is read)."""
    options.setdefault("rcvbuf", 2048)
    options.setdefault("mss", 300)
    return Server(script, read=False, **options)


@contextlib.contextmanager
def backlog_full():
    """Yields an address "127.0.0.1:PORT" where a connect hangs: a listener
    whose backlog is full and which never accepts. Linux drops the SYNs
    (the client retries them after 1 s, 3 s, 7 s ...), so connect() blocks
    until its caller gives up. For a backlog that frees up later, use
    Server(script, fill_backlog=True, accept_after_ms=...)."""
    with Server(None, fill_backlog=True, accepting=False) as server:
        yield server.addr


class _Held:
    """A bound socket kept for the rest of the test (see refused_addr)."""

    def __init__(self, sock):
        self.sock = sock

    def close(self):
        self.sock.close()


def refused_addr():
    """Returns "127.0.0.1:PORT" where a connect is refused at once.

    The port is bound but not listening, and stays bound until the end of
    the test, so no other program can start listening there meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    cleanup.register(_Held(sock))
    return _addr_text(sock.getsockname())


def connect_refused(addr, timeout_s=2.0):
    """True when a connect to addr is refused (nothing listens there)."""
    host, port = _split(addr)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _split(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


# ---------------------------------------------------------------------------
# Client, for programs that are servers


class Client:
    """A TCP client of a program that listens.

    rcvbuf, mss: a small SO_RCVBUF and TCP_MAXSEG (set before connect)
    make a slow reader. On loopback the program's send buffer grows to
    MBs; with rcvbuf=2048, mss=300 and no reads, its sends block after
    about 30 kB (the same settings as slow_reader()).
    The client reads only when asked (read_line ...), so not calling them
    is how a test plays a subscriber that does not read.

    Every read method raises AssertionError saying what was expected and
    what came instead when it does not get what it waits for.
    """

    def __init__(self, addr, rcvbuf=None, mss=None, timeout_s=5.0):
        host, port = _split(addr)
        self.addr = addr
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.settimeout(timeout_s)
        try:
            self.sock.connect((host, port))
        except OSError as exc:
            self.sock.close()
            raise AssertionError(f"could not connect to the program at "
                                 f"{addr}: {exc}") from None
        self.sock.setblocking(True)
        self.local = _addr_text(self.sock.getsockname())
        self.connected_at = time.monotonic()
        self._buf = bytearray()
        self.closed_how = None     # "eof" or "reset" once seen
        self.closed_at = None
        self._closed = False
        cleanup.register(self)

    # -- sending ----------------------------------------------------------

    def send(self, data):
        """Sends all of data (blocks while the program does not read)."""
        self.sock.sendall(data)

    def send_line(self, line):
        """Sends line followed by '\\n'."""
        self.sock.sendall(bytes(line) + b"\n")

    # -- receiving --------------------------------------------------------

    def _fill(self, deadline):
        """Reads once (up to the deadline). Returns False if nothing came:
        timeout, or the connection is closed (closed_how says so)."""
        if self.closed_how is not None:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([self.sock], [], [], left)
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self._saw_close("reset")
            return False
        if not data:
            self._saw_close("eof")
            return False
        self._buf += data
        return True

    def _saw_close(self, how):
        self.closed_how = how
        self.closed_at = time.monotonic()

    def _why(self, timeout_s):
        if self.closed_how == "eof":
            return "the program closed the connection"
        if self.closed_how == "reset":
            return "the program reset the connection"
        return f"nothing more came within {timeout_s:g} s"

    def read_line(self, timeout_s=5.0):
        """The next line, without its '\\n'."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            if not self._fill(deadline):
                raise AssertionError(
                    f"expected a line from the program at {self.addr}, but "
                    f"{self._why(timeout_s)}; bytes received without a "
                    f"newline: {bytes(self._buf[:300])!r}")
        i = self._buf.index(b"\n")
        line = bytes(self._buf[:i])
        del self._buf[:i + 1]
        return line

    def read_lines(self, n, timeout_s=5.0):
        """The next n lines (all within timeout_s in total)."""
        deadline = time.monotonic() + timeout_s
        lines = []
        for k in range(n):
            try:
                lines.append(self.read_line(max(deadline - time.monotonic(),
                                                0.001)))
            except AssertionError as exc:
                raise AssertionError(
                    f"expected {n} lines from the program, got {k} "
                    f"({lines[-3:]!r} last); {exc}") from None
        return lines

    def read_until_closed(self, timeout_s=5.0):
        """Reads until the program closes; returns (bytes, how), how being
        "eof" or "reset". Raises AssertionError if it is still open after
        timeout_s."""
        deadline = time.monotonic() + timeout_s
        while self.closed_how is None:
            if not self._fill(deadline) and self.closed_how is None:
                raise AssertionError(
                    f"expected the program to close the connection within "
                    f"{timeout_s:g} s, but it is still open; received: "
                    f"{bytes(self._buf[:300])!r}")
        data = bytes(self._buf)
        self._buf.clear()
        return data, self.closed_how

    def closed_within(self, ms):
        """True if the program closes the connection within ms ms (data
        that arrives meanwhile is kept for the read methods)."""
        deadline = time.monotonic() + ms / 1000.0
        while self.closed_how is None:
            if not self._fill(deadline) and self.closed_how is None:
                return False
        return True

    @property
    def pending(self):
        """Bytes received but not yet returned by a read method."""
        return bytes(self._buf)

    # -- closing ----------------------------------------------------------

    def close(self):
        """An orderly close (FIN)."""
        if not self._closed:
            self._closed = True
            self.sock.close()

    def reset(self):
        """Closes with a RST (SO_LINGER 0)."""
        if not self._closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"<Client {self.local} -> {self.addr}>"


__all__ = [
    "Server", "Conn", "Client", "slow_reader", "backlog_full", "refused_addr",
    "connect_refused", "wait_until", "seq", "send", "delay", "trickle",
    "stall", "close_after", "reset_after", "expect", "expect_line",
    "send_at", "flood", "echo",
]
