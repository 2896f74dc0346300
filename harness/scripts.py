"""scripts: what a scripted Server does on each connection it accepts.

A script is a function of a Conn (conn.py), run in the connection's own
thread:

    Server(seq(expect_line(), trickle(b"hello\\n", every_ms=20)))

A script that returns leaves the connection open (still read and recorded)
until the program closes it or the server closes. Each step stops early
when the program has gone or the server is closing.
"""

import time

from .net import POLL_S


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
            conn.wait_received(done + 1, timeout_s=POLL_S)
            data = conn.received
            if len(data) > done:
                if not conn.send(data[done:]):
                    return
                done = len(data)
            elif conn.closed:
                return
    return _named("echo()", run)
