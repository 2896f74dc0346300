"""server: scripted TCP servers on 127.0.0.1, for programs that connect.

    with Server(scripts.send(b"hello\\n")) as srv:
        ...                               # the program connects to srv.addr
        conn = srv.wait_conn()            # the first accepted connection

Server accepts in a thread of its own and plays its script on each
connection (conn.py); slow_reader() is a Server that reads nothing through
tiny buffers; backlog_full() is an address where a connect hangs.
Everything is closed at the end of the test even if the test forgets
(cleanup.py).
"""

import contextlib
import select
import socket
import threading
import time

from . import cleanup
from .conn import Conn, time_base
from .net import POLL_S
from .scripts import seq


class Server:
    """A listening socket on 127.0.0.1 (port chosen by the kernel) that
    plays `script` on every connection it accepts.

    script: a function of a Conn (see scripts.py), a list of them
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
        return time_base(self.clock, self.created_at)

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
            if not self._accepting.wait(POLL_S):
                continue
            try:
                ready, _, _ = select.select([self.sock], [], [], POLL_S)
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
