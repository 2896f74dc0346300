"""scenarios: one short, ordinary session of each program contract.

The track tests run every program through one of these under a wrapper
(strace to see which system calls and threads it uses, valgrind to find
leaks), and the grader can reuse them. A session exercises the normal path
end to end and finishes with the program's own clean exit:

- fetch-line: a peer answers a line; the program prints it and exits 0.
- dashboard: a source sends two events, waits two ticks, closes; the program
  writes its batches, the final one, and exits 0.
- journal: a publisher publishes, a live subscriber and a replaying one
  read everything, then SIGTERM; the server flushes and exits 0.
- wait-client: a client connects and reads the greeting; the program
  closes it and exits 0.
- happy-eyeballs: the first address hangs (a full backlog), the second
  refuses, the third answers a line: the program prints it, cancels the
  hanging attempt and exits 0.

exercise(contract, argv, wrapper) returns (result, what) where result is
the process.Result of the wrapped run and what a sentence for messages.

Every contract of tracks.list has its session here: a function marked
@session("CONTRACT"), with the arguments (argv, wrapper, env, tmp_path,
traced). A new contract adds its own function at the end of this file; the
track tests run it for every program of tracks.list, and a contract without
one fails them.
"""

import os
import signal

from . import journal as jr
from . import peers, process

EVENTS = 20

# {contract: session function}, filled by @session.
SESSIONS = {}


def session(contract):
    """Marks a function as the ordinary session of `contract`."""
    def register(fn):
        SESSIONS[contract] = fn
        return fn
    return register


@session("fetch-line")
def _fetch_line(argv, wrapper, env, tmp_path, traced):
    with peers.Server(peers.send(b"hello from the peer\n")) as server:
        result = process.run(wrapper + argv + ["--connect", server.addr],
                             timeout_s=60, env=env)
    return result, "fetch a line from a peer that answers at once"


@session("dashboard")
def _dashboard(argv, wrapper, env, tmp_path, traced):
    script = peers.seq(peers.send(b"first\nsecond\n"), peers.delay(250),
                       peers.close_after())
    with peers.Server(script) as server:
        result = process.run(wrapper + argv + ["--connect", server.addr,
                                               "--tick-ms", "100"],
                             timeout_s=60, env=env)
    return result, "report two events, then the source closes"


@session("journal")
def _journal(argv, wrapper, env, tmp_path, traced):
    path = tmp_path / "journal.log"
    server = jr.Journal.start(wrapper + argv + ["--listen", "127.0.0.1:0",
                                                "--file", str(path),
                                                "--flush-ms", "50"],
                              timeout_s=60, env=env)
    live = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    for i in range(1, EVENTS + 1):
        pub.publish(b"event %d" % i)
    jr.wait_for_records(live, EVENTS, 30, "every event, live")
    # The periodic flush writes them before the replay (which would flush
    # them itself): both ways of writing the file run in one session.
    assert jr.wait_for_file(path, lambda data: data.count(b"\n") >= EVENTS,
                            30), "the events never reached the file"
    replay = jr.Subscriber(server.addr)
    jr.wait_for_records(replay, EVENTS, 30, "every event, replayed")
    pub.publish(b"one more")
    jr.wait_for_records(replay, EVENTS + 1, 30, "the next event, live")
    pub.close()
    live.client.close()
    replay.client.close()
    # strace logging to a file holds SIGTERM back from itself: signal the
    # program it runs instead.
    pid = jr.traced_child(server.proc.pid) if traced else server.proc.pid
    os.kill(pid, signal.SIGTERM)
    result = server.proc.wait(timeout_s=60)
    return result, ("publish, a live and a replaying subscriber, then "
                    "SIGTERM")


@session("wait-client")
def _wait_client(argv, wrapper, env, tmp_path, traced):
    # A long deadline: under valgrind, starting up alone takes seconds.
    proc = process.start(wrapper + argv + ["--listen", "127.0.0.1:0",
                                           "--timeout-ms", "60000"],
                         env=env)
    with proc:
        _, line = proc.wait_line(rb"^listening on \S+$", timeout_s=60,
                                 what="the 'listening on' line")
        client = peers.Client(line.split()[-1].decode(), timeout_s=30)
        data, how = client.read_until_closed(timeout_s=60)
        client.close()
        result = proc.wait(timeout_s=60)
    assert (data, how) == (b"hello\n", "eof"), result.report(
        f"the client expected b'hello\\n' and an orderly close, but got "
        f"{data[:200]!r} and a {how}")
    return result, "greet one client that connects at once"


@session("happy-eyeballs")
def _happy_eyeballs(argv, wrapper, env, tmp_path, traced):
    # A short stagger, a long deadline: under valgrind, starting up alone
    # takes seconds.
    with peers.backlog_full() as hanging, \
            peers.Server(peers.send(b"hello from the winner\n")) as server:
        result = process.run(
            wrapper + argv + ["--connect", hanging,
                              "--connect", peers.refused_addr(),
                              "--connect", server.addr,
                              "--stagger-ms", "50", "--timeout-ms", "60000"],
            timeout_s=60, env=env)
    return result, ("race a hanging, a refusing and an answering address, "
                    "then read a line from the winner")


def exercise(contract, argv, wrapper=(), env=None, tmp_path=None,
             traced=False):
    """Runs one ordinary session of a program keeping `contract`, started
    as wrapper + argv. traced: the wrapper is strace (signals must go to
    its child). tmp_path: a folder for files the program writes."""
    if contract not in SESSIONS:
        raise ValueError(f"no session for contract {contract!r}: add a "
                         f"function marked @session({contract!r}) to "
                         f"harness/scenarios.py")
    return SESSIONS[contract](list(argv), list(wrapper), env, tmp_path,
                              traced)
