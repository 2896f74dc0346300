"""tcp_table: a program's TCP sockets as the kernel sees them.

A test that must know what a program did with a connection (has it closed
its end? has the client's FIN reached it? are connections still waiting to
be accepted?) reads the kernel's table of TCP sockets (/proc/net/tcp and
tcp6) and the program's open descriptors (/proc/PID/fd), instead of
sleeping and hoping:

    end = ServerEnd(client.sock, server.proc)   # while still connected
    client.close()
    assert end.wait_released(timing.react_s()), "the program kept it open"

Linux only; standard library only.
"""

import time
from pathlib import Path

from . import peers


def server_end_open(sock):
    """Whether the program's end of the TCP connection of the client socket
    sock is still open (ESTABLISHED in /proc/net/tcp or tcp6).

    A client that does not read cannot see the program close: the FIN waits
    behind megabytes of unsent data. The kernel's table shows the close at
    once: the program's socket leaves ESTABLISHED (FIN_WAIT1)."""
    try:
        local = sock.getsockname()
        remote = sock.getpeername()
    except OSError:
        return False    # reset by the program: not connected any more
    row = _tcp_row(remote[1], local[1])
    return row is not None and row[3] == "01"


# TCP states, as /proc/net/tcp writes them.
TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
              "0A": "LISTEN", "0B": "CLOSING"}


def _tcp_row(local_port, remote_port):
    """The fields of /proc/net/tcp[6]'s row for the socket bound to
    local_port and connected to remote_port, or None."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if (int(fields[1].rsplit(":", 1)[1], 16) == local_port and
                    int(fields[2].rsplit(":", 1)[1], 16) == remote_port):
                return fields
    return None


def accept_queue(port):
    """How many connections wait in the accept queue of the socket that
    listens on port (the rx_queue of its LISTEN row), or None if none
    listens there."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if (fields[3] == "0A" and
                    int(fields[1].rsplit(":", 1)[1], 16) == port):
                return int(fields[4].split(":")[1], 16)
    return None


class ServerEnd:
    """The program's end of a client's connection, seen from outside: how
    the kernel holds it, and whether the program still has it open. Made
    from the client's socket while it is connected, it outlives it, so a
    test can wait for what the program does once the client has gone
    instead of sleeping:

        end = ServerEnd(sub.sock, server.proc)
        sub.close()
        assert end.wait_released(timeout_s), "the journal kept it open"
    """

    def __init__(self, sock, proc):
        self.proc = proc
        self.port = sock.getpeername()[1]         # the program's port
        self.client_port = sock.getsockname()[1]
        self.inode = 0
        # A connection the program has not accepted yet is the kernel's,
        # not the program's (its socket has no inode yet): wait for the
        # accept.
        held = peers.poll_until(self._accepted, 5.0)
        assert held, (
            f"test setup: the program (pid {proc.pid}) did not accept the "
            f"connection from port {self.client_port} within 5 s, or "
            f"/proc/{proc.pid}/fd is not readable")

    def _accepted(self):
        row = _tcp_row(self.port, self.client_port)
        self.inode = int(row[9]) if row else 0
        return self.inode != 0 and self.proc.holds_socket(self.inode)

    def state(self):
        """'ESTABLISHED', 'CLOSE_WAIT' (the client's FIN came) ..., or None
        once the kernel has dropped the socket (a RST came, or it is
        closed and done)."""
        row = _tcp_row(self.port, self.client_port)
        return TCP_STATES.get(row[3], row[3]) if row else None

    def released(self):
        """True once the program has closed its end (or has exited)."""
        return not self.proc.running or not self.proc.holds_socket(
            self.inode)

    def wait(self, predicate, timeout_s):
        """Polls predicate(self) until it is true or timeout_s passed;
        returns whether it became true."""
        return peers.poll_until(lambda: predicate(self), timeout_s)

    def wait_released(self, timeout_s):
        """Waits until the program has closed its end (or exited); returns
        whether it did within timeout_s."""
        return self.wait(ServerEnd.released, timeout_s)


def wait_server_close(sock, timeout_s, interval_s=0.005):
    """Polls server_end_open(); returns the time.monotonic() when the
    program's end was first seen closed, or None after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = time.monotonic()
        if not server_end_open(sock):
            return now
        if now >= deadline:
            return None
        time.sleep(interval_s)
