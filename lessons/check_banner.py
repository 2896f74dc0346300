#!/usr/bin/python3
"""check_banner: checks lesson 03's exercise (fetch-line --banner: read the
server's greeting line before sending, under the same one deadline).

    /usr/bin/python3 -m lessons.check_banner build/manual-statemachine/fetch-line

Three runs against scripted servers: a server that greets after 300 ms
must have received nothing before its greeting, and the program prints the
answer, not the greeting; a server that never greets makes the program time
out at the deadline; a greeting that trickles in is read to its '\\n'.
Exit 0 when all hold, 1 with the reasons. (Without --banner the program
must still pass the whole conformance suite: run that too.)
"""

import sys

from harness import peers, process, timing

GREETING_AFTER_S = 0.3


def greeter(seen_early):
    """Greets after GREETING_AFTER_S, noting what came before; then waits
    for the program's line and answers."""
    def run(conn):
        if not conn.sleep(GREETING_AFTER_S):
            return
        seen_early.append(bytes(conn.received))
        if conn.send(b"welcome, this is the banner\n"):
            conn.wait_received(b"\n", 5.0)
            conn.send(b"answer\n")
            conn.wait_closed(timeout_s=5)
    return run


def check(exe):
    problems = []
    early = []
    with peers.Server(greeter(early)) as server:
        result = process.run([exe, "--connect", server.addr, "--banner",
                              "--send", "question", "--timeout-ms", "3000"],
                             timeout_s=10)
    if early and early[0]:
        problems.append(f"the program sent {early[0]!r} before the server's "
                        f"banner came: with --banner it must read the banner "
                        f"first (a state before FETCH_SENDING)")
    if result.rc != 0 or result.stdout != b"answer\n":
        problems.append(f"expected the answer b'answer\\n' and exit 0 (the "
                        f"banner is read, not printed), but it printed "
                        f"{result.stdout[:80]!r} and {result.describe()}")
    with peers.Server(peers.stall()) as server:
        result = process.run([exe, "--connect", server.addr, "--banner",
                              "--send", "question", "--timeout-ms", "300"],
                             timeout_s=10)
    if result.timed_out or result.rc != 124 or \
            result.elapsed_ms > timing.latest(300):
        problems.append(f"a server that never greets: expected exit 124 by "
                        f"{timing.latest(300)} ms (the one deadline covers "
                        f"the banner too), but it {result.describe()}")
    with peers.Server(peers.seq(peers.trickle(b"slow banner\n", every_ms=20),
                                peers.expect_line(), peers.send(b"ok\n"),
                                peers.stall())) as server:
        result = process.run([exe, "--connect", server.addr, "--banner",
                              "--send", "q", "--timeout-ms", "3000"],
                             timeout_s=10)
    if result.stdout != b"ok\n":
        problems.append(f"a banner that trickles in: expected b'ok\\n' "
                        f"(read the banner to its newline, whatever the "
                        f"reads), but it printed {result.stdout[:80]!r} and "
                        f"{result.describe()}")
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(argv[0])
    for p in problems:
        print(f"check_banner: {p}", file=sys.stderr)
    if not problems:
        print("check_banner: the banner is read first, under the deadline")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
