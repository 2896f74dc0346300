#!/usr/bin/python3
"""The lecture demos: every version of a program against the same scripted
peer, their --trace output drawn side by side, time flowing down.

    /usr/bin/python3 -m demo.demo                 # every scene
    /usr/bin/python3 -m demo.demo timeout         # one scene
    make demo  /  make demo DEMO=pause

Scenes:
    timeout   fetch-line against a peer trickling one byte every 100 ms,
              with a 300 ms deadline (plus two known-wrong mutants)
    select    dashboard ticking through a silent source, then a flood
    pause     journal replaying a large file to a slow subscriber while a
              publisher keeps publishing
    race      happy-eyeballs racing four addresses (one hangs, one refuses,
              one wins then fails, one would answer), with every
              happy-eyeballs mutant of tests/mutants/mutants.toml

The programs come from tracks.list, built in $KIT_BUILD (default build/);
the mutants from $KIT_BUILD/mutants/ (`make mutants`). An SVG of each scene
is written to $KIT_BUILD/demo/SCENE.svg for slides. Colour when stdout is a
terminal (--plain or NO_COLOR turn it off, --colour forces it).
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

from demo import timeline as tl
from demo.timeline import Mark, Run
from harness import journal as jr
from harness import peers, process, race, timing, tracks


def versions(contract, mutants):
    """(Run, path) for every listed program keeping `contract`, then the
    mutants [(name, short name)]; a Run whose program is not built says so.
    """
    out = []
    for e in tracks.with_contract(contract):
        sub = e.program
        if sub.startswith(contract + "-"):
            sub = sub[len(contract) + 1:]
        out.append((Run(tracks.short_name(e.track), sub), e.path))
    for name, short in mutants:
        path = tracks.build_dir() / "mutants" / name
        out.append((Run("MUTANT", short, mutant=True), path))
    for run, path in out:
        run.built = path.is_file() and os.access(path, os.X_OK)
    return out


def in_parallel(jobs):
    """Runs each job (a function of no argument) in a thread of its own and
    waits for all: the versions of a scene run side by side, so each sees
    the same machine, and the scene takes as long as its slowest one."""
    errors = []

    def guard(job):
        try:
            job()
        except Exception as exc:   # reported after the scene, not lost
            errors.append(exc)
    threads = [threading.Thread(target=guard, args=(j,), daemon=True)
               for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for exc in errors:
        raise exc


def finish(run, result):
    run.events = tl.parse_trace(result.err_lines)
    run.rc = None if result.timed_out else result.rc
    run.exit_ms = None if result.timed_out else result.elapsed_ms


# ---------------------------------------------------------------------------
# timeout: one deadline over a whole operation


class Timeout(tl.Scene):
    name = "timeout"
    deadline = 300
    every = 100
    line = b"a slow line\n"
    bucket_ms = 50
    title = (f"fetch-line --timeout-ms {deadline}; the peer sends one byte "
             f"every {every} ms")
    takeaway = (
        "A deadline is one instant, worked out once: every version that keeps",
        "it exits at 300 ms, however often a byte arrives. A timeout re-armed",
        "on every read never fires; a watchdog that joins without cancelling",
        "times out on time, then waits for the blocked worker anyway.")

    def __init__(self):
        super().__init__()
        self.rules = [(self.deadline, f"deadline {self.deadline} ms")]

    def late_after(self):
        return timing.latest(self.deadline)

    def mark(self, run, ms, event, detail):
        late = ms > self.deadline + timing.SPEC_LATE_MS
        table = {
            "connected": Mark("connected", "ok", 3),
            "read": Mark("read", "late" if late else "io", 6),
            "line": Mark("line", "late" if late else "ok", 2),
            "timed-out": Mark("timed-out", "bad", 1),
            "cancelled": Mark("cancelled", "cancel", 2),
            "joined": Mark("joined", "cancel", 3),
            "closed": Mark("closed", "cancel", 4, svg=False),
        }
        return table.get(event)

    def fill(self, run, t0, t1):
        if not run.built:
            return ("(not built)", "note") if t0 == 0 else None
        if run.exit_ms is not None and t0 > run.exit_ms:
            return None
        if t0 > self.deadline + timing.SPEC_LATE_MS:
            return ("· still running", "late")
        return ("·", "note")

    def play(self, run, path):
        script = peers.trickle(self.line, every_ms=self.every)
        with peers.Server(script) as srv:
            result = process.run([path, "--connect", srv.addr,
                                  "--timeout-ms", self.deadline, "--trace"],
                                 timeout_s=10)
        finish(run, result)
        if run.exit_ms is None:
            run.verdict, run.verdict_style = "never ended", "bad"
        elif run.exit_ms <= self.late_after() and run.rc == 124:
            run.verdict = "on time"
        else:
            run.verdict = f"late by {run.exit_ms - self.deadline:.0f} ms"
            run.verdict_style = "bad"

    def versions(self):
        return versions("fetch-line", [
            ("fetch-line-rearmed-timeout", "rearmed-timeout"),
            ("watchdog-join-without-cancel", "join-no-cancel")])


# ---------------------------------------------------------------------------
# select: periodic output while waiting for input


class Select(tl.Scene):
    name = "select"
    tick = 200
    silent = 600
    flood_ms = 600
    rate = 1_000_000
    late = timing.latest(0)        # a tick later than this after it is due
    bucket_ms = 100
    title = (f"dashboard --tick-ms {tick}: a silent source for {silent} ms, "
             f"then a flood")
    takeaway = (
        "A tick is due every 200 ms whatever the input does: every version",
        "waits for 'input OR the next tick', and reads a flood in bounded",
        "slices between ticks. Wait for input alone and a silent source stops",
        "the ticks; read until the input pauses and a flood delays them.")

    def __init__(self):
        super().__init__()
        self.rules = [(self.silent, f"flood starts ({self.rate // 1000} kB/s)"),
                      (self.silent + self.flood_ms,
                       "flood ends, the source closes 100 ms later")]

    def mark(self, run, ms, event, detail):
        words = detail.split()
        if event == "tick" and words:
            if "skipped" in words:
                return Mark(f"skipped {words[0]}-{words[2]}", "bad", 1)
            k = words[0]
            n = words[1] if len(words) > 1 else "?"
            if "final" in words:
                return Mark(f"final: {n} ev", "tick", 1)
            due = int(k) * self.tick if k.isdigit() else ms
            if ms > due + self.late:
                return Mark(f"tick {k} LATE +{ms - due:.0f}ms", "bad", 1)
            return Mark(f"tick {k}: {n} ev", "tick", 1)
        if event == "read":
            return Mark("read", "io", 6)
        if event == "connected":
            return Mark("connected", "ok", 3)
        if event == "closed":
            return Mark("closed", "cancel", 4, svg=False)
        return None

    def fill(self, run, t0, t1):
        if not run.built:
            return ("(not built)", "note") if t0 == 0 else None
        if run.exit_ms is not None and t0 > run.exit_ms:
            return None
        return ("·", "note")

    def play(self, run, path):
        script = peers.seq(
            peers.delay(self.silent),
            peers.flood(lambda i: b"event %d" % i, self.rate, self.flood_ms),
            peers.delay(100), peers.close_after())
        with peers.Server(script) as srv:
            result = process.run([path, "--connect", srv.addr, "--tick-ms",
                                  self.tick, "--trace"], timeout_s=10)
        finish(run, result)
        ticks = {}
        for ms, ev, detail in run.events:
            words = detail.split()
            if ev == "tick" and words and words[0].isdigit() \
                    and "final" not in words and "skipped" not in words:
                ticks[int(words[0])] = ms
        last = int((run.exit_ms or 0) // self.tick)
        bad = [k for k in range(1, last + 1) if k not in ticks
               or ticks[k] > k * self.tick + self.late]
        if bad:
            run.verdict = f"{len(bad)}/{last} ticks late/missed"
            run.verdict_style = "bad"
        else:
            run.verdict = f"{last} ticks, all on time"

    def versions(self):
        return versions("dashboard", [
            ("dashboard-tick-on-event", "tick-on-event"),
            ("dashboard-starves-under-flood", "starves-in-flood")])


# ---------------------------------------------------------------------------
# pause: a replay pauses the writing of the file


class SlowSubscriber(jr.Subscriber):
    """A SUB client whose socket buffers are tiny (small receive buffer and
    segments), so that the journal's sends block soon and the replay lasts
    as long as this client takes to read it."""

    def __init__(self, addr):
        self.client = peers.Client(addr, rcvbuf=4096, mss=300)
        self.sock = self.client.sock
        self.records = []
        self.max_seq = 0
        self.received = 0
        self.first_at = None
        self.closed_how = None
        self._buf = b""
        self.sock.sendall(b"SUB\n")
        self.sent_role_at = time.monotonic()


def _old(seq):
    return b"old event %d" % seq


def _new(i):
    return b"new %d" % i


class Pause(tl.Scene):
    name = "pause"
    stored = 40_000
    every = 20
    flush = 100
    arrive = 300
    rate = 600_000
    bucket_ms = 100
    title = (f"journal --flush-ms {flush}: a slow subscriber replays "
             f"{stored} stored events while a publisher publishes")
    takeaway = (
        "While a replay reads the file, nothing is written to it: events",
        "published meanwhile wait in memory (no flush between replay-start",
        "and replay-end), then one flush writes them all. Nothing is lost:",
        "the file and the subscriber end with every event, once, in order.")

    def __init__(self):
        super().__init__()
        self.rules = [(self.arrive, "a subscriber arrives: its replay starts")]

    @staticmethod
    def window(run):
        """(from, to): the replay, from its start and the pause (whichever
        comes later: the flush just before a replay is allowed, and the
        tracks trace these two in different orders) to its end."""
        start = [ms for ms, ev, _ in run.events if ev == "replay-start"]
        paused = [ms for ms, ev, _ in run.events if ev == "paused"]
        end = [ms for ms, ev, _ in run.events if ev == "replay-end"]
        if not start:
            return None, None
        return (max(start[:1] + paused[:1]), end[0] if end else None)

    def mark(self, run, ms, event, detail):
        a, b = self.window(run)
        replaying = a is not None and a < ms and (b is None or ms < b)
        if event == "flush":
            return Mark("FLUSH!", "bad", 2) if replaying \
                else Mark("flush", "flush", 4)
        if event == "event":
            # An event read while the file is paused waits in memory.
            return Mark("┊ ev", "span", 6, svg=False) if replaying \
                else Mark("ev", "io", 6, svg=False)
        table = {
            "paused": Mark("paused", "pause", 1),
            "replay-start": Mark("replay-start", "pause", 3),
            "replay-end": Mark("replay-end", "pause", 1),
            "resumed": Mark("resumed", "pause", 2),
            "shutdown": Mark("shutdown", "cancel", 5),
        }
        return table.get(event)

    def fill(self, run, t0, t1):
        if not run.built:
            return ("(not built)", "note") if t0 == 0 else None
        a, b = self.window(run)
        if a is not None and a < t0 and (b is None or t0 < b):
            return ("┊ replaying", "span")
        return None

    def play(self, run, path):
        folder = tempfile.mkdtemp(prefix="kit-demo-")
        try:
            self._play(run, path, Path(folder) / "journal.log")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _play(self, run, path, file):
        jr.prefill(file, self.stored, _old)
        server = jr.Journal.start([path, "--listen", "127.0.0.1:0", "--file",
                                   file, "--flush-ms", self.flush,
                                   "--replay-timeout-ms", 20000, "--trace"])
        pub = jr.Publisher(server.addr)
        steady = jr.Steady(pub, _new, self.every)
        start = server.proc.t0
        # A little after `arrive` on the program's clock, which starts a few
        # ms after the harness's.
        time.sleep(max(0.0, start + (self.arrive + 15) / 1000
                       - time.monotonic()))
        sub = SlowSubscriber(server.addr)
        sub.read_until_seq(self.stored, timeout_s=20, rate_bps=self.rate)
        time.sleep(0.2)
        published = steady.stop()
        total = self.stored + published
        sub.read_until_seq(total, timeout_s=5)
        pub.close()
        sub.close()
        result = server.stop(signal.SIGTERM)
        finish(run, result)
        records, problem = jr.parse_journal(file.read_bytes())

        def expected(seq):
            return _old(seq) if seq <= self.stored else _new(seq - self.stored)
        in_file = jr.first_difference(records, expected, total)
        to_sub = jr.first_difference(sub.records, expected, total)
        ok = in_file is None and to_sub is None and problem is None
        a, b = self.window(run)
        during = sum(1 for ms, ev, _ in run.events if ev == "flush"
                     and a is not None and a < ms and (b is None or ms < b))
        run.verdict = f"{during} flushes in replay"
        run.verdict_style = "ok" if during == 0 else "bad"
        name = f"{run.title}/{run.subtitle}"
        line = (f"  check {name:<24} published {total:>6} | file "
                f"{len(records):>6} | subscriber {len(sub.records):>6} | ")
        line += ("all there, once, in order" if ok else
                 f"WRONG: {problem or in_file or to_sub}")
        run.check = line

    def versions(self):
        return versions("journal", [
            ("journal-writes-during-replay", "writes-in-replay")])


# ---------------------------------------------------------------------------
# race: racing connects, cancelling the losers


def mutants_of(contract, short=None):
    """[(name, short name)] of the mutants in tests/mutants/mutants.toml
    that keep `contract`, in the file's order. The short name is short's
    entry for the name, else the name without its prefix (the contract's
    name, or its initials: "he-" for happy-eyeballs)."""
    path = tracks.ROOT / "tests" / "mutants" / "mutants.toml"
    with open(path, "rb") as f:
        table = tomllib.load(f)
    initials = "".join(word[0] for word in contract.split("-"))
    out = []
    for name, entry in table.items():
        if entry.get("contract") != contract:
            continue
        brief = name
        for prefix in (contract + "-", initials + "-"):
            if brief.startswith(prefix):
                brief = brief[len(prefix):]
        out.append((name, (short or {}).get(name, brief)))
    return out


class RaceScene(tl.Scene):
    name = "race"
    # Eight columns share 120: a mutant's column title fits in 12.
    short = {"he-losers-not-cancelled": "no-cancel",
             "he-waits-out-stagger": "waits-out",
             "he-fallback-after-win": "falls-back"}
    stagger = 200
    deadline = 2000
    fails_after = 500      # the winner's peer closes then, without a line
    bucket_ms = 100
    title = (f"happy-eyeballs --stagger-ms {stagger}: 1 hangs, 2 refuses, "
             f"3 connects then closes, 4 would answer")
    takeaway = (
        "Attempt 2 is due at 200 ms and refused: 3 starts at once and wins;",
        "at that moment 1 is cancelled (its socket closed) and 4 never",
        "starts. When the winner then fails, that is the error (exit 1):",
        "starting is easy, stopping the rest is the work.")

    def __init__(self):
        super().__init__()
        self.rules = [(self.stagger, f"attempt 2 due ({self.stagger} ms)")]

    def mark(self, run, ms, event, detail):
        # One rank for all: a cell then lists its events in the order they
        # happened, and the order is part of the lesson (the futures race
        # drops its losers before the program hears of the winner).
        k = detail.split()[0] if detail.split() else ""
        table = {
            "attempt-start": Mark(f"start {k}", "io", 3),
            "attempt-failed": Mark(f"{k} failed", "note", 3),
            "connected": Mark(f"conn {k}", "ok", 3),
            "won": Mark(f"WON {k}", "ok", 3),
            "cancelled": Mark(f"cancel {k}", "cancel", 3),
            "line": Mark("line", "ok", 3),
            "error": Mark("error", "bad", 3),
            "timed-out": Mark("timed-out", "bad", 3),
            "closed": Mark("closed", "cancel", 6, svg=False),
        }
        return table.get(event)

    def fill(self, run, t0, t1):
        if not run.built:
            return ("(not built)", "note") if t0 == 0 else None
        if run.exit_ms is not None and t0 > run.exit_ms:
            return None
        return ("·", "note")

    def play(self, run, path):
        targets = [race.hanging(drain_after_ms=3 * self.stagger),
                   race.refused(),
                   race.answering(script=peers.seq(
                       peers.delay(self.fails_after),
                       peers.close_after(b"half a li"))),
                   race.answering(b"fallback line\n")]
        with race.Race(targets) as r:
            result = process.run([path, *r.connect_args(), "--stagger-ms",
                                  self.stagger, "--timeout-ms", self.deadline,
                                  "--trace"], timeout_s=10)
            r.clock = result
            finish(run, result)
            self.judge(run, r)

    def judge(self, run, r):
        """The verdict, from what the addresses saw (not from the trace:
        every version is judged the same way, whatever it prints)."""
        started = [r.started_ms(i) for i in range(4)]
        # The harness's clock starts when the spawn returns, which may be
        # a few ms after the program began: shown from 0.
        shown = " ".join(f"{i + 1}@{max(t, 0):.0f}"
                         for i, t in enumerate(started) if t is not None)
        seen = [r.pending_until_ms(0), r.gone_ms(0), r.accepted_ms(0)]
        loser_until = max([t for t in seen if t is not None] or [0.0])
        # Attempt 2 is refused at once, so the table never sees it: when
        # attempt 3 starts, counted from attempt 1's start, tells how 2 was
        # scheduled and handled. (Counted from the spawn instead, eight
        # versions starting at once on a busy machine blur it by tens of
        # ms.) Right: 1 stagger; the mutants: 0, 2 staggers, or never. The
        # limits sit half a stagger away from each.
        problems = []
        third = started[2]
        since_first = None if third is None else third - (started[0] or 0)
        if third is None:
            problems.append("sequential")
        elif since_first < self.stagger / 2:
            problems.append("all at once")
        elif since_first > 1.5 * self.stagger:
            problems.append("stagger wait")
        if third is not None and (
                r.accepted_ms(0) is not None
                or loser_until > third + timing.latest(0)):
            problems.append("1 not closed")
        if started[3] is not None and "all at once" not in problems:
            problems.append("fell back")
        run.verdict = problems[0] if problems else "on schedule"
        run.verdict_style = "bad" if problems else "ok"
        name = f"{run.title}/{run.subtitle}"
        run.check = (f"  check {name:<30} started (ms) {shown or 'none'} | "
                     f"attempt 1 seen until {loser_until:.0f} ms"
                     + (f" | {', '.join(problems)}" if problems else ""))

    def versions(self):
        out = versions("happy-eyeballs",
                       mutants_of("happy-eyeballs", self.short))
        for run, _ in out:
            if not run.mutant:
                run.subtitle = "reference"  # the program's name is long
        return out


SCENES = {s.name: s for s in (Timeout, Select, Pause, RaceScene)}


# ---------------------------------------------------------------------------


def run_scene(cls, colour, width, svg_dir):
    scene = cls()
    runs = scene.versions()
    jobs = [(lambda r=r, p=p: scene.play(r, p)) for r, p in runs if r.built]
    in_parallel(jobs)
    order = {id(r): i for i, (r, _) in enumerate(runs)}
    cols = sorted((r for r, _ in runs), key=lambda r: order[id(r)])
    for line in tl.render_text(scene, cols, colour=colour, width=width):
        print(line)
    svg_dir.mkdir(parents=True, exist_ok=True)
    svg = svg_dir / f"{scene.name}.svg"
    svg.write_text(tl.render_svg(scene, cols))
    print(f"  (SVG for slides: {svg})")
    print()
    sys.stdout.flush()
    return all(r.built for r in cols)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Side-by-side timelines of every version of a program.")
    ap.add_argument("scenes", nargs="*", metavar="SCENE",
                    help=f"scenes to run (default: all): "
                         f"{', '.join(SCENES)}")
    ap.add_argument("--plain", action="store_true", help="no colour")
    ap.add_argument("--colour", "--color", action="store_true",
                    help="colour even when stdout is not a terminal")
    ap.add_argument("--width", type=int, default=120,
                    help="at most this many columns (default 120)")
    args = ap.parse_args(argv)
    unknown = [s for s in args.scenes if s not in SCENES]
    if unknown:
        ap.error(f"no scene {', '.join(unknown)}; the scenes are "
                 f"{', '.join(SCENES)}")
    colour = args.colour or (sys.stdout.isatty() and not args.plain
                             and "NO_COLOR" not in os.environ
                             and os.environ.get("TERM") != "dumb")
    width = args.width
    if sys.stdout.isatty():
        width = min(width, shutil.get_terminal_size((120, 40)).columns)
    svg_dir = tracks.build_dir() / "demo"
    complete = True
    for name in args.scenes or list(SCENES):
        complete &= run_scene(SCENES[name], colour, width, svg_dir)
    if not complete:
        print("Some versions are not built: run `make` and `make mutants`.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
