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

The peers live in a few modules, one job each, and this module gathers
them, so tests write `from harness import peers` and `peers.Server`:

    server   Server, slow_reader(), backlog_full(): servers that accept
    conn     Conn: one accepted connection, its records and its two threads
    scripts  seq, send, delay, trickle, stall, close_after, reset_after,
             expect, expect_line, send_at, flood, echo: what a Server plays
    client   Client, refused_addr(), connect_refused(): for programs that
             listen
    net      wait_until(), poll_until(), addresses: what they all share

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

from .client import Client, connect_refused, refused_addr
from .conn import Conn
from .net import POLL_S, addr_text, poll_until, split_addr, wait_until
from .scripts import (close_after, delay, echo, expect, expect_line, flood,
                      reset_after, send, send_at, seq, stall, trickle)
from .server import Server, backlog_full, slow_reader

# The names of before the split, for code that used them.
_POLL_S = POLL_S
_split = split_addr
_addr_text = addr_text

__all__ = [
    "Server", "Conn", "Client", "slow_reader", "backlog_full", "refused_addr",
    "connect_refused", "wait_until", "poll_until", "seq", "send", "delay",
    "trickle", "stall", "close_after", "reset_after", "expect",
    "expect_line", "send_at", "flood", "echo", "split_addr", "addr_text",
]
