"""conn: one connection a scripted Server accepted (see peers.py).

Time: every record keeps the absolute time.monotonic() (attributes without
a suffix: accepted_at, closed_at, chunks) and offers the same in ms since
the server's time base (attributes ending in _ms).

Each connection has two threads: one that reads everything the program
sends (so the program never blocks on a full buffer, and so the moment it
closes is recorded) and one that runs the server's script.
"""

import os
import re
import select
import socket
import struct
import threading
import time

from .net import POLL_S, addr_text


def time_base(clock, default):
    """The time.monotonic() that ms records count from: a Proc's t0, a
    time.monotonic() value, or default when clock is None."""
    if clock is None:
        return default
    t0 = getattr(clock, "t0", None)
    return float(t0 if t0 is not None else clock)


def _ms(t, base):
    return None if t is None else (t - base) * 1000.0


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
        self.peer = addr_text(peer)
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
                _, writable, _ = select.select([], [self.sock], [], POLL_S)
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
                self._cond.wait(min(left, POLL_S))

    def wait_closed(self, timeout_s=5.0):
        """Waits until the program closes the connection; True if it did."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.closed_at is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return self.closed_at is not None
                self._cond.wait(min(left, POLL_S))
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
