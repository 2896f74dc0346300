"""netline: connect, send a line, read one line, all within one deadline
(the helper module of main.py)."""

import socket
import sys
import time

MAX_LINE = 65536


class TimedOut(Exception):
    """The deadline passed."""


class Failed(Exception):
    """The operation failed; str() says why."""


class Trace:
    """--trace: one event a line on stderr, ms since start first."""

    def __init__(self, start, on):
        self.start = start
        self.on = on

    def __call__(self, event):
        if self.on:
            ms = (time.monotonic() - self.start) * 1000.0
            print(f"{ms:8.3f} {event}", file=sys.stderr, flush=True)


def parse_address(text):
    """(host, port) for HOST:PORT (HOST an IPv4 address or localhost) or
    [IPv6]:PORT, or None."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        return None
    family = socket.AF_INET
    if host.startswith("[") and host.endswith("]"):
        host, family = host[1:-1], socket.AF_INET6
    if host == "localhost" and family == socket.AF_INET:
        return host, int(port)
    try:
        socket.inet_pton(family, host)
    except OSError:
        return None
    return host, int(port)


def _left(deadline):
    """Seconds left before the deadline; TimedOut when none."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimedOut()
    return left


def fetch(address, send, deadline, trace):
    """The first line the peer sends (bytes, without its newline). Every
    blocking call waits at most for the time left: the deadline is computed
    once, never re-armed."""
    try:
        sock = socket.create_connection(address, timeout=_left(deadline))
    except socket.timeout:
        raise TimedOut() from None
    except OSError as exc:
        raise Failed(f"cannot connect: {exc.strerror or exc}") from None
    trace("connected")
    with sock:
        try:
            if send is not None:
                _send(sock, send + b"\n", deadline)
                trace("sent")
            line = _read_line(sock, deadline)
        except socket.timeout:
            raise TimedOut() from None
        except OSError as exc:
            raise Failed(exc.strerror or str(exc)) from None
    trace("line")
    return line


def _send(sock, data, deadline):
    view = memoryview(data)
    while view:
        sock.settimeout(_left(deadline))
        view = view[sock.send(view):]


def _read_line(sock, deadline):
    data = bytearray()
    while True:
        sock.settimeout(_left(deadline))
        chunk = sock.recv(65536)
        if not chunk:
            raise Failed("the peer closed the connection before a newline")
        end = chunk.find(b"\n")
        if end >= 0:
            data += chunk[:end]
            if len(data) > MAX_LINE:
                raise Failed("line too long")
            return bytes(data)
        data += chunk
        if len(data) > MAX_LINE:
            raise Failed("line too long")
