#!/usr/bin/python3
"""bench: what each track's programs cost, next to what the machine can do.

    make bench                        (or: /usr/bin/python3 -m bench.bench)
    /usr/bin/python3 -m bench.bench [--quick] [--track T] [--json FILE]
        [--no-plots] [--exe PATH --contract C [--name NAME]]

Every program of every track in tracks.list (and any --exe, so a student
compares theirs) in one run, on loopback, with the ceiling program
(bench/ceiling.c) measured in the same run: it moves the same bytes with
no parsing, so each track is also shown as a fraction of the ceiling.
Tracks are compared within one run, never across runs.

  flood     dashboard: a source sends E events of 13 bytes (+ '\\n') as fast
            as it can, then closes. events/s from the first byte sent to the
            program's exit (every event delivered, DB-6); the worst tick
            lateness (a batch's "ms" minus its due time K x tick); CPU
            seconds (user + system, from wait4). At two --tick-ms values.
  instr     dashboard: instructions per event, counted by `perf stat -e
            instructions:u` where the machine has the counter, otherwise
            by callgrind (many virtual machines have none; the results say
            which): (those of a flood of E events - those of an empty
            one) / E.
  burst     journal: S subscribers, one publisher sends N events in one
            burst. Deliveries/s (S x N over first send -> last delivery),
            write syscalls per delivery (write, writev, send, sendmsg of
            every thread, counted in the kernel by `perf stat -e
            syscalls:sys_enter_...  -p PID`: it does not slow the program
            as strace would; without perf, the syscw of /proc/PID/io,
            which misses send(2)), including the few writes to its file,
            and the CPU it used.
  latency   journal: S subscribers, events at a steady rate; p50/p99 of
            publisher's send -> a subscriber's recv.
  idle      journal: RSS and threads with I and J idle subscribers (past
            their replay); KiB per extra connection = the RSS difference /
            (J - I). wait-client: RSS and threads while it waits for its one
            client (the ceiling: a C program asleep in poll).
  deadline  fetch-line (every program of that contract) against a server
            that never answers, wait-client with no client, --timeout-ms
            50: lateness = spawn -> exit as the harness sees it, minus 50
            ms (the ceiling: `ceiling sleep --ms 50`, start-up included:
            what spawning and reaping a C program adds here).
  winner    happy-eyeballs, --stagger-ms 100: one address hangs, one
            refuses, one answers; program start -> the winner's accept.

The clients are Python (standard library only): their own cost is inside
every latency and rate, for the ceiling as for the tracks. --quick runs
small sizes over one program per contract (the bench's own test uses it).
Numbers on a shared machine are noisy: compare rows of one run.
bench/README.md lists the files and every field of the results file.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from harness import tracks

from . import report
from .measure import (CEILING, WRITE_SYSCALLS, Subject, burst_once,
                      deadline_runs, flood_blob, flood_once,
                      idle_journal_once, idle_waiter_once,
                      instructions_per_event, latency_once, median_of,
                      perf_can_count_instructions, perf_can_count_syscalls,
                      winner_once)

# The sizes of a full run and of a --quick one.
SIZES = {
    "full": {
        "runs": 3,                      # repeats of idle, latency, winner
        "flood_events": 1_000_000,
        "flood_ticks": (50, 500),
        "instr_events": 30_000,
        "burst_subs": 100,
        "burst_events": 20_000,
        "latency_subs": 20,
        "latency_events": 2000,
        "latency_rate": 2000,           # events a second
        "idle_counts": (100, 500),
        "deadline_ms": 50,
        "deadline_runs": 40,
        "stagger_ms": 100,
    },
    "quick": {
        "runs": 1,
        "flood_events": 200_000,
        "flood_ticks": (50,),
        "instr_events": 2000,
        "burst_subs": 10,
        "burst_events": 2000,
        "latency_subs": 5,
        "latency_events": 200,
        "latency_rate": 2000,
        "idle_counts": (20, 60),
        "deadline_ms": 50,
        "deadline_runs": 5,
        "stagger_ms": 100,
    },
}


# ---------------------------------------------------------------------------
# Progress (stderr) and the machine


class Progress:
    """One line on stderr saying which step of how many is running."""

    def __init__(self, total):
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()

    def step(self, text):
        self.done += 1
        line = f"bench [{self.done}/{self.total}] {text}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def say(self, text):
        """A line of its own, kept on the screen."""
        if self.tty:
            sys.stderr.write("\r\033[K")
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def machine():
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model,
            "kernel": platform.release()}


def kit_commit():
    """The kit's commit, with "+dirty" when the worktree has changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(tracks.ROOT), *args],
                              capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return commit


# ---------------------------------------------------------------------------
# The run


def subjects(args):
    """The programs to measure, by contract: tracks.list's (one per
    contract with --quick), the --exe ones, and the ceiling."""
    entries = tracks.load()
    if args.track:
        entries = [e for e in entries if e.track in args.track]
    if args.quick:
        first = {}
        for e in entries:
            first.setdefault(e.contract, e)
        entries = list(first.values())
    chosen = [Subject(e.id, e.contract, e.path) for e in entries]
    if args.exe:
        name = args.name or Path(args.exe).name
        chosen.append(Subject(f"yours/{name}", args.contract,
                              Path(args.exe).resolve()))
    return chosen


def of(chosen, contract):
    return [s for s in chosen if s.contract == contract]


def plan(chosen, ceiling, size):
    """The steps of the run: (measure, subject, extra) in order."""
    steps = []
    for s in of(chosen, "dashboard") + [ceiling]:
        for tick in size["flood_ticks"]:
            steps.append(("flood", s, tick))
        steps.append(("instr", s, size["flood_ticks"][0]))
    for s in of(chosen, "journal") + [ceiling]:
        steps.append(("burst", s, None))
        steps += [("latency", s, k) for k in range(size["runs"])]
    for s in of(chosen, "journal"):
        for n in size["idle_counts"]:
            steps += [("idle", s, n)] * size["runs"]
    for s in of(chosen, "wait-client") + [ceiling]:
        steps.append(("waiter", s, None))
    for s in of(chosen, "fetch-line") + of(chosen, "wait-client") + \
            [ceiling]:
        steps.append(("deadline", s, None))
    for s in of(chosen, "happy-eyeballs"):
        steps += [("winner", s, k) for k in range(size["runs"])]
    return steps


def measure(steps, size, progress):
    """Runs every step; returns the raw runs, by measure and label, and the
    steps that failed (a program that crashed, or broke its contract so
    that the measure could not go on): a list of dicts."""
    raw = {}
    failures = []
    blob = flood_blob(size["flood_events"])
    for kind, s, extra in steps:
        progress.step(f"{kind}: {s.label}" +
                      (f" (tick {extra} ms)" if kind == "flood" else ""))
        try:
            key, run = measure_one(kind, s, extra, size, blob)
        except Exception as exc:    # a student's program may do anything
            failures.append({"measure": kind, "program": s.label,
                             "error": f"{type(exc).__name__}: {exc}"[:400]})
            progress.say(f"bench: {kind} of {s.label} failed: "
                         f"{failures[-1]['error']}")
            continue
        raw.setdefault(key, {}).setdefault(s.label, []).append(run)
    return raw, failures


def measure_one(kind, s, extra, size, blob):
    """One step: (the key its runs are kept under, its numbers)."""
    if kind == "flood":
        run = flood_once(s, extra, size["flood_events"], blob)
        key = f"tick{extra}"
    elif kind == "instr":
        run = instructions_per_event(s, size["instr_events"], extra,
                                     size["instructions"])
        key = "instr"
    elif kind == "burst":
        run = burst_once(s, size["burst_subs"], size["burst_events"],
                         size["perf"])
        key = "burst"
    elif kind == "latency":
        run = latency_once(s, size["latency_subs"],
                           size["latency_events"], size["latency_rate"])
        key = "latency"
    elif kind == "idle":
        run = idle_journal_once(s, extra)
        key = f"idle{extra}"
    elif kind == "waiter":
        run = idle_waiter_once(s)
        key = "waiter"
    elif kind == "deadline":
        run = deadline_runs(s, size["deadline_ms"], size["deadline_runs"])
        key = "deadline"
    else:
        run = winner_once(s.path, size["stagger_ms"])
        key = "winner"
    return key, run


def fraction(value, ceiling):
    if value is None or not ceiling:
        return None
    return value / ceiling


def summarize(raw, size):
    """The results: one dict per measure, one row per label (the ceiling's
    row is labelled "ceiling")."""
    res = {"flood": {}, "fanout": {}, "idle": {}, "waiter": {},
           "deadline": {}, "winner": {}}
    keys = [f"tick{tick}" for tick in size["flood_ticks"]]
    # A row for each program whose every flood completed its run.
    for label in raw.get(keys[0], {}):
        if all(label in raw.get(k, {}) for k in keys):
            res["flood"][label] = {k: raw[k][label][0] for k in keys}
            res["flood"][label]["instructions_per_event"] = \
                raw.get("instr", {}).get(label, [None])[0]
    # The ceiling has no tick: it runs once per tick value all the same,
    # so that each column is read against a run made at about that time.
    ceil = res["flood"].get(CEILING, {})
    for row in res["flood"].values():
        for tick in size["flood_ticks"]:
            row[f"tick{tick}"]["of_ceiling"] = fraction(
                row[f"tick{tick}"]["events_per_s"],
                ceil.get(f"tick{tick}", {}).get("events_per_s"))
    for label, runs in raw.get("burst", {}).items():
        res["fanout"][label] = dict(runs[0], p50_ms=None, p99_ms=None,
                                    latency_lost=None)
    for label, runs in raw.get("latency", {}).items():
        row = res["fanout"].get(label)
        if row is None:
            continue            # its burst failed
        row.update({"p50_ms": median_of(runs, "p50_ms"),
                    "p99_ms": median_of(runs, "p99_ms"),
                    "latency_lost": median_of(runs, "lost")})
    ceil = res["fanout"].get(CEILING, {}).get("deliveries_per_s")
    for row in res["fanout"].values():
        row["of_ceiling"] = fraction(row["deliveries_per_s"], ceil)
    low, high = size["idle_counts"]
    for label in raw.get(f"idle{low}", {}):
        if label not in raw.get(f"idle{high}", {}):
            continue
        rows = {n: {k: median_of(raw[f"idle{n}"][label], k)
                    for k in ("rss_kib", "threads")} for n in (low, high)}
        res["idle"][label] = {
            "subscribers": [low, high],
            "rss_kib": [rows[low]["rss_kib"], rows[high]["rss_kib"]],
            "threads": [rows[low]["threads"], rows[high]["threads"]],
            "kib_per_conn": (rows[high]["rss_kib"] - rows[low]["rss_kib"])
            / (high - low),
            "threads_per_conn": (rows[high]["threads"] -
                                 rows[low]["threads"]) / (high - low)}
    for label, runs in raw.get("waiter", {}).items():
        res["waiter"][label] = dict(runs[0])
    for label, runs in raw.get("deadline", {}).items():
        res["deadline"][label] = dict(runs[0])
    for label, runs in raw.get("winner", {}).items():
        res["winner"][label] = {k: median_of(runs, k)
                                for k in ("accept_ms", "over_ms")}
        res["winner"][label]["runs"] = runs
    return res


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one program per contract")
    parser.add_argument("--track", action="append",
                        help="only this track's programs (repeatable)")
    parser.add_argument("--exe", help="also measure this executable")
    parser.add_argument("--contract", help="with --exe: its contract")
    parser.add_argument("--name", help="with --exe: its row's name")
    parser.add_argument("--json", metavar="FILE",
                        help="where to write the results (default "
                             "BUILD/bench/results.json)")
    parser.add_argument("--no-plots", action="store_true",
                        help="no SVG plots")
    args = parser.parse_args()
    if bool(args.exe) != bool(args.contract):
        parser.error("--exe and --contract go together")
    unknown = set(args.track or ()) - set(tracks.track_names())
    if unknown:
        parser.error(f"no track {', '.join(sorted(unknown))} in tracks.list")
    if args.contract and args.contract not in tracks.contracts():
        parser.error(f"--contract must be one of "
                     f"{', '.join(sorted(tracks.contracts()))}")

    size = SIZES["quick" if args.quick else "full"]
    ceiling = Subject(CEILING, "ceiling", tracks.build_dir() / "bench" /
                      "ceiling")
    chosen = subjects(args)
    missing = [str(s.path) for s in chosen + [ceiling]
               if not os.access(s.path, os.X_OK)]
    if missing:
        print(f"bench: not built: {', '.join(missing)} (run make first)",
              file=sys.stderr)
        return 1
    out = tracks.build_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    steps = plan(chosen, ceiling, size)
    progress = Progress(len(steps))
    size = dict(size, perf=perf_can_count_syscalls(),
                instructions="perf" if perf_can_count_instructions()
                else "callgrind")
    raw, failures = measure(steps, size, progress)
    progress.finish()
    data = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), "commit": kit_commit(),
            "quick": args.quick,
            "instructions_by": "perf stat -e instructions:u"
            if size["instructions"] == "perf"
            else "callgrind (valgrind --tool=callgrind, Ir): perf stat "
            "-e instructions is not supported on this machine",
            "writes_by": "perf stat -e syscalls:sys_enter_{%s} -p PID"
            % ",".join(WRITE_SYSCALLS) if size["perf"]
            else "/proc/PID/io syscw (write, writev; not send)",
            "sizes": size,
            "programs": {s.label: {"contract": s.contract,
                                   "path": str(s.path)}
                         for s in chosen + [ceiling]},
            "results": summarize(raw, size), "failures": failures,
            "seconds": round(time.monotonic() - began, 1)}
    m = data["machine"]
    print(f"bench {data['date']}: {m['cpu_model']}, nproc {m['nproc']}, "
          f"kit {data['commit']}, {data['seconds']:.0f} s")
    report.print_tables(data)
    path = Path(args.json) if args.json else out / "results.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"\nresults: {path}")
    if not args.no_plots:
        written = report.plot(data, out)
        if written is None:
            print("plots: none (matplotlib is missing: apt-get install "
                  "python3-matplotlib, or run make bench as root)")
        else:
            print(f"plots: {', '.join(str(p) for p in written)}")
    for f in failures:
        print(f"FAILED: {f['measure']} of {f['program']}: {f['error']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
