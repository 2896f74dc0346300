#!/usr/bin/python3
"""check_waiting: checks lesson 02b's exercise (a `waiting` trace event
every 100 ms, on an absolute schedule, while the fetch waits).

    /usr/bin/python3 -m lessons.check_waiting build/lessons/examples/poll/fetch-line

Runs the program against a peer that trickles a line one byte every 100 ms,
with --timeout-ms 1000 --trace, and checks that the `waiting` events keep
coming while the bytes trickle in (a handler that waits stops them), that
event k comes at k * 100 ms, never before and never drifting later, and
that the deadline is still kept. Exit 0 when it holds, 1 with the reason.
"""

import sys

from demo.timeline import parse_trace
from harness import peers, process, timing

EVERY_MS = 100
DEADLINE_MS = 1000


def check(exe):
    """[] when the exercise is done, else the problems, one sentence each."""
    with peers.Server(peers.trickle(b"x" * 40 + b"\n", every_ms=EVERY_MS)) \
            as server:
        result = process.run([exe, "--connect", server.addr, "--timeout-ms",
                              str(DEADLINE_MS), "--trace"], timeout_s=10)
    events = parse_trace(result.err_lines)
    waiting = [ms for ms, event, _ in events if event == "waiting"]
    problems = []
    if result.timed_out or result.rc != 124:
        problems.append(f"the {DEADLINE_MS} ms deadline must still end the "
                        f"run with exit 124 (the line takes 4 s to trickle "
                        f"in); it {result.describe()}")
    want = DEADLINE_MS // EVERY_MS - 1
    if len(waiting) < want:
        problems.append(f"expected a 'waiting' event every {EVERY_MS} ms "
                        f"until the deadline ({want} at least), got "
                        f"{len(waiting)} (does a handler wait for the rest "
                        f"of the line instead of returning to poll?)")
    for k, ms in enumerate(waiting, 1):
        due = k * EVERY_MS
        if ms < timing.earliest(due):
            problems.append(f"'waiting' event {k} came at {ms:.0f} ms, "
                            f"before it was due ({due} ms)")
            break
        if ms > timing.latest(due):
            problems.append(f"'waiting' event {k} came at {ms:.0f} ms, due "
                            f"at {due} ms: is the next one scheduled from "
                            f"the last one (drifting) instead of from the "
                            f"start?")
            break
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(argv[0])
    for p in problems:
        print(f"check_waiting: {p}", file=sys.stderr)
    if not problems:
        print("check_waiting: the waiting events are on schedule and the "
              "deadline holds")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
