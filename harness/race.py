"""race: the addresses of a connect race, and who saw which attempt when.

A program that races connects (happy-eyeballs) gets several addresses,
each one a different situation made on purpose:

    answering(b"hi\\n")   a listener that accepts and answers a line
    not_reading()         a listener that accepts and never reads
    hanging()             a listener whose backlog is full: a connect there
                          hangs (Linux drops the SYN and retries it after
                          1 s, 3 s ...)
    hanging(drain_after_ms=600)
                          the same, but the listener starts accepting after
                          600 ms: a connect that was not really cancelled
                          completes at the SYN's next retry, and the
                          listener sees it
    refused()             nothing listens: a connect is refused at once

A Race holds them in the order given to the program, and watches the
kernel's TCP table (/proc/net/tcp) for the program's sockets to each of
them. That is how a test sees an attempt that never completes: a connect
to a full backlog is visible only as a socket in SYN_SENT, from the moment
connect() is called until the socket is closed.

    with Race([hanging(), answering(b"two\\n")]) as race:
        result = run(prog.argv(*race.connect_args(), "--stagger-ms", 300))
        race.clock = result
        race.started_ms(1)      # when attempt 2 started, ms since spawn

Times: absolute time.monotonic() seconds in the records, and ms since the
race's clock (a Proc or Result: its spawn time t0) in the _ms methods, as
in peers.py. The table is read every WATCH_POLL_MS, so a time seen there is
late by at most that much plus the machine's noise; it is never early.
Standard library only.
"""

import threading
import time

from . import cleanup
from .peers import (Server, delay, refused_addr, send, seq, slow_reader,
                    stall)

# How often the TCP table is read. A connect that hangs lives for hundreds
# of ms, so it is always seen; a refused one lives for microseconds and is
# never seen (tests learn of it from what happens next).
WATCH_POLL_MS = 5

# /proc/net/tcp's state codes that matter here.
_SYN_SENT = "02"
_TIME_WAIT = "06"
_CLOSE = "07"


class Target:
    """One address of the race.

    kind: "answering", "hanging" or "refused". addr: "127.0.0.1:PORT".
    port: the port. server: the peers.Server behind it (None for refused).
    """

    def __init__(self, kind, addr, server=None):
        self.kind = kind
        self.addr = addr
        self.port = int(addr.rpartition(":")[2])
        self.server = server

    @property
    def conns(self):
        """The connections the listener accepted (none for refused)."""
        return list(self.server.conns) if self.server is not None else []

    def __repr__(self):
        return f"<Target {self.kind} {self.addr}>"


def answering(line=None, script=None, after_ms=0):
    """A listener that accepts at once and plays script, by default: send
    line (bytes, with its '\\n') after after_ms, then keep the connection
    open (a program that reads only one line must close it itself)."""
    if script is None:
        steps = []
        if after_ms:
            steps.append(delay(after_ms))
        if line is not None:
            steps.append(send(line))
        steps.append(stall())
        script = seq(*steps)
    server = Server(script)
    return Target("answering", server.addr, server)


def not_reading(script=None):
    """A listener that accepts at once, plays script (default: stall) and
    reads nothing, with a tiny receive buffer: a program's send to it
    blocks after about 30 kB (see peers.slow_reader)."""
    server = slow_reader(script if script is not None else stall())
    return Target("not-reading", server.addr, server)


def hanging(drain_after_ms=None, script=None):
    """A listener whose backlog is full, so a connect to it hangs.

    drain_after_ms: start accepting (the backlog drains) that many ms after
    now, playing script (default: stall) on what is accepted. A pending
    connect then completes at its SYN's next retry, about 1 s after it was
    started, unless the program closed the socket first."""
    server = Server(script if script is not None else stall(),
                    fill_backlog=True, accepting=False)
    target = Target("hanging", server.addr, server)
    if drain_after_ms is not None:
        timer = threading.Timer(drain_after_ms / 1000.0,
                                server.start_accepting)
        timer.daemon = True
        timer.start()
        cleanup.register(_Timer(timer))
    return target


def refused():
    """An address where a connect is refused at once."""
    return Target("refused", refused_addr())


class _Timer:
    def __init__(self, timer):
        self.timer = timer

    def close(self):
        self.timer.cancel()


class Socket:
    """One socket of the program to a target, as the TCP table showed it.

    local_port: the program's side. first_at: when it was first seen.
    first_state: its state then ("02" SYN_SENT, "01" ESTABLISHED ...).
    connecting_at: times it was seen in SYN_SENT (first and last).
    gone_at: when it was first seen gone from the table, or closed
    (TIME_WAIT, CLOSE), None while it is there.
    """

    def __init__(self, local_port, state, now):
        self.local_port = local_port
        self.first_at = now
        self.first_state = state
        self.first_connecting = now if state == _SYN_SENT else None
        self.last_connecting = self.first_connecting
        self.gone_at = None

    @property
    def was_connecting(self):
        return self.first_connecting is not None


class Race:
    """The targets of one race, in the order given to the program, and a
    watch on the program's sockets to each.

    clock: the time base of the _ms methods (a Proc or Result; None for
    the Race's creation); may be set after the run.
    A context manager: leaving it stops the watch and closes every
    listener (cleanup.py does the same at the end of a test anyway).
    """

    def __init__(self, targets, clock=None):
        self.targets = list(targets)
        self.clock = clock
        self.created_at = time.monotonic()
        self._lock = threading.Lock()
        self._ports = {t.port: i for i, t in enumerate(self.targets)}
        self._sockets = [dict() for _ in self.targets]   # local port -> Socket
        self._before = self._table()   # sockets that are not the program's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        cleanup.register(self)

    # -- the watch ----------------------------------------------------------

    def _table(self):
        """{(local port, remote port): state} of every IPv4 TCP socket on
        127.0.0.1 whose remote port is one of the targets'."""
        found = {}
        try:
            with open("/proc/net/tcp") as f:
                next(f)
                for row in f:
                    fields = row.split()
                    if len(fields) < 4:
                        continue
                    local, remote, state = fields[1], fields[2], fields[3]
                    rport = int(remote[-4:], 16)
                    if rport in self._ports:
                        found[(int(local[-4:], 16), rport)] = state
        except OSError:
            pass
        return found

    def _watch(self):
        while not self._stop.is_set():
            now = time.monotonic()
            table = self._table()
            with self._lock:
                self._record(table, now)
            self._stop.wait(WATCH_POLL_MS / 1000.0)

    def _record(self, table, now):
        seen = set()
        for (lport, rport), state in table.items():
            if (lport, rport) in self._before:
                continue
            sockets = self._sockets[self._ports[rport]]
            seen.add((lport, rport))
            sock = sockets.get(lport)
            if sock is None:
                if state in (_TIME_WAIT, _CLOSE):
                    continue   # a close seen before the socket: not ours
                sock = sockets[lport] = Socket(lport, state, now)
            if state == _SYN_SENT:
                sock.last_connecting = now
                if sock.first_connecting is None:
                    sock.first_connecting = now
            if state in (_TIME_WAIT, _CLOSE) and sock.gone_at is None:
                sock.gone_at = now
        for i, sockets in enumerate(self._sockets):
            port = self.targets[i].port
            for lport, sock in sockets.items():
                if (lport, port) not in seen and sock.gone_at is None:
                    sock.gone_at = now

    # -- what a test asks ---------------------------------------------------

    def base(self):
        """The time base of the _ms results (time.monotonic() seconds)."""
        if self.clock is None:
            return self.created_at
        return float(getattr(self.clock, "t0", self.clock))

    def _ms(self, t):
        return None if t is None else (t - self.base()) * 1000.0

    def connect_args(self):
        """["--connect", addr1, "--connect", addr2 ...] in order."""
        args = []
        for t in self.targets:
            args += ["--connect", t.addr]
        return args

    def sockets(self, i):
        """The program's sockets to target i (0-based) seen so far, by the
        table or by the listener's accept, oldest first."""
        with self._lock:
            found = dict(self._sockets[i])
        for conn in self.targets[i].conns:
            if conn.peer_port not in found:
                sock = Socket(conn.peer_port, "01", conn.accepted_at)
                sock.gone_at = conn.closed_at
                found[conn.peer_port] = sock
            else:
                sock = found[conn.peer_port]
                sock.first_at = min(sock.first_at, conn.accepted_at)
        return sorted(found.values(), key=lambda s: s.first_at)

    def attempts(self, i):
        """How many sockets the program opened to target i."""
        return len(self.sockets(i))

    def started_ms(self, i):
        """When the program's first connect to target i was seen (ms since
        the clock), or None if it never was. For an answering target this
        is when its listener accepted; for a hanging one, when the socket
        appeared in SYN_SENT. Never early; late by a few ms at most."""
        socks = self.sockets(i)
        return self._ms(socks[0].first_at) if socks else None

    def pending_until_ms(self, i):
        """For a hanging target: the last time a connect to it was seen
        still pending (SYN_SENT), in ms since the clock, or None."""
        socks = [s for s in self.sockets(i) if s.last_connecting]
        if not socks:
            return None
        return self._ms(max(s.last_connecting for s in socks))

    def gone_ms(self, i):
        """When the program's last socket to target i was seen closed (ms
        since the clock); None if one is still open or none was seen."""
        socks = self.sockets(i)
        if not socks or any(s.gone_at is None for s in socks):
            return None
        return self._ms(max(s.gone_at for s in socks))

    def accepted_ms(self, i):
        """When target i's listener accepted a connection from the program
        (ms since the clock), or None."""
        conns = self.targets[i].conns
        return self._ms(conns[0].accepted_at) if conns else None

    def timeline(self):
        """Every target and what was seen of it, one line each, for
        failure messages."""
        lines = []
        for i, t in enumerate(self.targets):
            socks = self.sockets(i)
            if not socks:
                seen = "no attempt seen"
            else:
                parts = []
                for s in socks:
                    what = (f"connect seen at {self._ms(s.first_at):.0f} ms"
                            if s.was_connecting else
                            f"connected at {self._ms(s.first_at):.0f} ms")
                    if s.gone_at is not None:
                        what += f", closed at {self._ms(s.gone_at):.0f} ms"
                    parts.append(what)
                seen = "; ".join(parts)
            conns = t.conns
            if conns:
                got = b"".join(c.received for c in conns)
                seen += f" (the listener accepted {len(conns)}, received " \
                        f"{got[:60]!r})"
            lines.append(f"  attempt {i + 1} ({t.kind} {t.addr}): {seen}")
        return "what each address saw, in ms since the program started:\n" \
            + "\n".join(lines)

    def close(self):
        """Stops the watch and closes every listener (idempotent)."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(1.0)
        for t in self.targets:
            if t.server is not None:
                t.server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


__all__ = ["Race", "Target", "Socket", "answering", "not_reading", "hanging",
           "refused", "WATCH_POLL_MS"]
