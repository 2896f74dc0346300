"""make soak (scripts/soak.py) reports what fails under load, and only that.

Each test soaks a handful of fast conformance tests for two runs: a right
program must come out with no failure, a wrong one with every run of the
test it breaks counted, and stress-ng must be gone afterwards.
"""

import os
import subprocess
import sys

from harness import tracks

ROOT = tracks.ROOT
SOAK = ROOT / "scripts" / "soak.py"
FAST = "COM4_prints_the_first_line or COM3_localhost"


def soak(*args, timeout=300):
    env = dict(os.environ)
    env.setdefault("KIT_BUILD", str(ROOT / "build"))
    return subprocess.run([sys.executable, str(SOAK), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=timeout)


def stress_ng_running():
    run = subprocess.run(["pgrep", "-x", "stress-ng"], capture_output=True)
    return run.returncode == 0


def test_a_right_program_soaks_with_no_failure():
    # The grader's example program, not a track's: the student kit's
    # tracks are stubs, and the soak must work there too.
    right = ROOT / "grader" / "examples" / "python-fetch-line" / "launch.sh"
    before = stress_ng_running()
    run = soak("--runs", "2", "--", "--exe", str(right), "--contract",
               "fetch-line", "--name", "fetch-line", "-k", FAST)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "run 2/2: 2 passed, 0 failed" in run.stdout, run.stdout
    assert "soak: no failure in 2 loaded runs" in run.stdout, run.stdout
    if not before:
        assert not stress_ng_running(), "soak left stress-ng running"


def test_a_wrong_program_is_counted_in_every_run_it_fails(tmp_path):
    # Connects nowhere and prints nothing: COM-4 fails, COM-3 too.
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    run = soak("--runs", "2", "--", "--exe", str(silent), "--contract",
               "fetch-line", "--name", "fetch-line", "-k", FAST)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "failures per test over 2 loaded runs" in run.stdout, run.stdout
    lines = [ln for ln in run.stdout.splitlines() if "test_COM4" in ln]
    assert lines and lines[0].split()[0] == "2/2", run.stdout


def test_bad_arguments_are_a_usage_error():
    for args in (["--runs", "0"], ["-k", "FL1"]):
        run = soak(*args, timeout=60)
        assert run.returncode == 2, run.stdout + run.stderr
        assert "usage: soak" in run.stderr, run.stderr
