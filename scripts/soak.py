#!/usr/bin/python3
"""soak: the conformance suite, again and again, on a saturated CPU.

    make soak [N=10] [TRACK=t] [PROGRAM=p]
    /usr/bin/python3 scripts/soak.py [--runs N] [--track T] [--program P]
                                     [-- PYTEST_ARGS...]

While the suite runs N times, `stress-ng --cpu 0` keeps every core busy
(one CPU hog per core, at the same priority as the tests). A timing test
must still tell a right program from a wrong one there: the goal is no
failure at all in 10 loaded runs. At the end, every test that failed at
least once is listed with how many runs it failed in, worst first; the exit
status is 1 when any did, 2 when the soak could not run. A test that fails
under load needs a wider margin or a better synchronisation, never a retry.

What follows `--` goes to pytest as it is, for instance one program of your
own, or a few tests:

    scripts/soak.py --runs 3 -- --exe ./my-fetch-line --contract fetch-line
    scripts/soak.py --runs 20 --program fetch-line -- -k FL1

The runs use the programs of KIT_BUILD (default build/: `make` first). Each
run's log and JUnit report, and the summary printed at the end
(summary.txt), stay in a folder named at the start.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable  # the one make chose (PYTHON=), with pytest


def parse(argv):
    p = argparse.ArgumentParser(
        prog="soak", description=__doc__,
        usage="soak [--runs N] [--track T] [--program P] [-- PYTEST_ARGS...]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10,
                   help="how many runs of the suite (default 10)")
    p.add_argument("--track", action="append", default=[],
                   help="only this track (may be repeated)")
    p.add_argument("--program", action="append", default=[],
                   help="only this program (may be repeated)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER,
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.pytest_args[:1] == ["--"]:
        args.pytest_args = args.pytest_args[1:]
    elif args.pytest_args:
        p.error(f"unexpected {args.pytest_args[0]!r}: put pytest's own "
                f"arguments after --")
    if args.runs < 1:
        p.error("--runs takes a whole number of 1 or more")
    return args


def failures(junit):
    """The node ids that failed or erred in one run's JUnit XML file."""
    out = []
    if not junit.exists():
        return ["(the run wrote no report: see its log)"]
    for case in ET.parse(junit).iter("testcase"):
        if case.find("failure") is not None or \
                case.find("error") is not None:
            out.append(f"{case.get('classname')}::{case.get('name')}")
    return out


def passed(junit):
    """How many tests passed in one run (for the progress line)."""
    if not junit.exists():
        return 0
    return sum(1 for case in ET.parse(junit).iter("testcase")
               if len(case) == 0 or all(c.tag in ("system-out", "system-err",
                                                  "properties") for c in case))


def one_run(n, args, folder):
    junit = folder / f"run-{n}.xml"
    # The test paths come first: pytest finds the conftest.py that defines
    # --track, --exe and the others from the first paths it is given.
    argv = [PYTHON, "-m", "pytest", "tests/conformance", "-q",
            "-p", "no:cacheprovider", f"--junitxml={junit}"]
    for t in args.track:
        argv += ["--track", t]
    for p in args.program:
        argv += ["--program", p]
    argv += args.pytest_args
    t0 = time.monotonic()
    with open(folder / f"run-{n}.log", "w") as log:
        run = subprocess.run(argv, cwd=KIT, stdout=log,
                             stderr=subprocess.STDOUT)
    failed = failures(junit)
    if run.returncode not in (0, 1) and not failed:
        failed = [f"(pytest exited {run.returncode}: see run-{n}.log)"]
    return failed, passed(junit), time.monotonic() - t0


def start_stress():
    if shutil.which("stress-ng") is None:
        sys.exit("soak: stress-ng is not installed: run "
                 "scripts/install-deps.sh (or apt-get install stress-ng)")
    return subprocess.Popen(["stress-ng", "--cpu", "0", "--quiet"],
                            start_new_session=True)


def stop_stress(stress):
    # SIGTERM first: stress-ng then stops and collects its workers.
    os.killpg(stress.pid, signal.SIGTERM)
    try:
        stress.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(stress.pid, signal.SIGKILL)
        stress.wait()


def summary(counts, runs):
    if not counts:
        return [f"soak: no failure in {runs} loaded runs"]
    lines = [f"soak: failures per test over {runs} loaded runs:"]
    for test, count in counts.most_common():
        lines.append(f"  {count:3d}/{runs}  {test}")
    return lines


def main(argv):
    args = parse(argv)
    folder = Path(tempfile.mkdtemp(prefix="kit-soak-"))
    print(f"soak: {args.runs} runs of the conformance suite with "
          f"stress-ng on all {os.cpu_count()} cores; logs in {folder}",
          flush=True)
    stress = start_stress()
    counts = Counter()
    try:
        for n in range(1, args.runs + 1):
            failed, ok, seconds = one_run(n, args, folder)
            counts.update(failed)
            print(f"soak: run {n}/{args.runs}: {ok} passed, "
                  f"{len(failed)} failed ({seconds:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_stress(stress)
    lines = summary(counts, args.runs)
    (folder / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"soak: logs in {folder}")
    return 1 if counts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
