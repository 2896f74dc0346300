"""client: TCP clients of programs that listen, and addresses to connect to.

    c = Client(addr)
    c.send_line(b"SUB")
    c.read_line(timeout_s=2)              # b"1 first event"

refused_addr() is an address where a connect is refused at once;
connect_refused(addr) tells whether one is.
"""

import select
import socket
import struct
import time
from pathlib import Path

from . import cleanup
from .net import addr_text, split_addr


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
    return addr_text(sock.getsockname())


def connect_refused(addr, timeout_s=2.0):
    """True when a connect to addr is refused (nothing listens there)."""
    host, port = split_addr(addr)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux's number


def _rmem_max():
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return 212992  # the kernel's default


def set_rcvbuf(sock, size):
    """Sets sock's receive buffer to size bytes, before connect.

    Beyond net.core.rmem_max (208 KiB by default) only root may
    (SO_RCVBUFFORCE). Anyone else asking for more is left with the
    kernel's autotuning, which grows the buffer of a socket that is read
    fast up to net.ipv4.tcp_rmem's maximum (6 MiB by default): further
    than any fixed size it may set."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        if size <= _rmem_max():
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class Client:
    """A TCP client of a program that listens.

    rcvbuf: the receive buffer (set_rcvbuf, before connect): a large one
    holds a whole burst however late the test reads it. rcvbuf and mss,
    small (SO_RCVBUF and TCP_MAXSEG), make a slow reader. On loopback the program's send buffer grows to
    MBs; with rcvbuf=2048, mss=300 and no reads, its sends block after
    about 30 kB (the same settings as slow_reader()).
    sndbuf: a small SO_SNDBUF, so that a program that stops reading
    blocks this client's sends soon (not after megabytes).
    The client reads only when asked (read_line ...), so not calling them
    is how a test plays a subscriber that does not read.

    Every read method raises AssertionError saying what was expected and
    what came instead when it does not get what it waits for.
    """

    def __init__(self, addr, rcvbuf=None, mss=None, sndbuf=None,
                 timeout_s=5.0):
        host, port = split_addr(addr)
        self.addr = addr
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            set_rcvbuf(self.sock, rcvbuf)
        if mss is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        if sndbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.settimeout(timeout_s)
        try:
            self.sock.connect((host, port))
        except OSError as exc:
            self.sock.close()
            raise AssertionError(f"could not connect to the program at "
                                 f"{addr}: {exc}") from None
        self.sock.setblocking(True)
        self.local = addr_text(self.sock.getsockname())
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
