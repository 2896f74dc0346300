#!/usr/bin/python3
"""soak: the conformance suite, again and again, on a saturated CPU.

    make soak [N=10] [TRACK=t] [PROGRAM=p]
    /usr/bin/python3 scripts/soak.py [--runs N] [--track T] [--program P]

While the suite runs N times, `stress-ng --cpu 0` keeps every core busy
(one CPU hog per core, at the same priority as the tests). A timing test
must still tell a right program from a wrong one there: the goal is no
failure at all in 10 loaded runs. At the end, every test that failed at
least once is listed with how many runs it failed in, worst first; the exit
status is 1 when any did. A test that fails under load needs a wider
margin or a better synchronisation, never a retry.

The runs use the programs of KIT_BUILD (default build/: `make` first).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

KIT = Path(__file__).resolve().parents[1]


def parse(argv):
    p = argparse.ArgumentParser(prog="soak", description=__doc__.split(
        "\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--track", action="append", default=[])
    p.add_argument("--program", action="append", default=[])
    return p.parse_args(argv)


def failures(junit):
    """The node ids that failed or erred in one run's JUnit XML file."""
    out = []
    if not junit.exists():
        return ["(the run wrote no report)"]
    for case in ET.parse(junit).iter("testcase"):
        if case.find("failure") is not None or \
                case.find("error") is not None:
            out.append(f"{case.get('classname')}::{case.get('name')}")
    return out


def one_run(n, args, folder):
    junit = folder / f"run-{n}.xml"
    argv = ["/usr/bin/python3", "-m", "pytest", "tests/conformance", "-q",
            "-p", "no:cacheprovider", f"--junitxml={junit}"]
    for t in args.track:
        argv += ["--track", t]
    for p in args.program:
        argv += ["--program", p]
    t0 = time.monotonic()
    with open(folder / f"run-{n}.log", "w") as log:
        subprocess.run(argv, cwd=KIT, stdout=log, stderr=subprocess.STDOUT)
    return failures(junit), time.monotonic() - t0


def main(argv):
    args = parse(argv)
    stress = subprocess.Popen(["stress-ng", "--cpu", "0", "--quiet"],
                              start_new_session=True)
    counts = Counter()
    folder = Path(tempfile.mkdtemp(prefix="kit-soak-"))
    try:
        for n in range(1, args.runs + 1):
            failed, seconds = one_run(n, args, folder)
            counts.update(failed)
            print(f"soak: run {n}/{args.runs}: {len(failed)} failed "
                  f"({seconds:.0f} s)", flush=True)
    finally:
        # SIGTERM first: stress-ng then stops and collects its workers.
        os.killpg(stress.pid, signal.SIGTERM)
        try:
            stress.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(stress.pid, signal.SIGKILL)
            stress.wait()
    if not counts:
        print(f"soak: no failure in {args.runs} loaded runs "
              f"(logs: {folder})")
        return 0
    print(f"soak: failures per test over {args.runs} loaded runs "
          f"(logs: {folder}):")
    for test, count in counts.most_common():
        print(f"  {count:3d}/{args.runs}  {test}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
