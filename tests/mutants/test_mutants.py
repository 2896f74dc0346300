"""The conformance suite catches every known-wrong design.

Each mutant in mutants.toml is a small patch to one of the kit's programs
that brings back a classic concurrency mistake. `make mutants` builds it into
$KIT_BUILD/mutants/NAME. This test runs the conformance tests named in the
mutant's `caught_by` against that binary and asserts that:

- every one of them fails (a suite that passes a wrong program is the bug);
- the failure output contains the mutant's `says` text, so the message a
  student reads names what went wrong.

A mutant whose patch no longer applies fails `make mutants`, so the list
cannot rot silently.
"""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness import tracks

HERE = Path(__file__).resolve().parent
ROOT = tracks.ROOT
BUILD = tracks.build_dir()

with open(HERE / "mutants.toml", "rb") as f:
    MUTANTS = tomllib.load(f)


def patched_program(name):
    """The program a mutant's patch changes, from its '+++ b/TRACK/PROG.c'."""
    text = (HERE / f"{name}.patch").read_text()
    match = re.search(r"^\+\+\+ [ab]/(\S+)/(\S+)\.c", text, re.MULTILINE)
    assert match, f"{name}.patch names no file in a '+++ b/...' line"
    return match.group(2)


def test_every_patch_is_listed_and_every_listed_mutant_has_a_patch():
    patches = {p.stem for p in HERE.glob("*.patch")}
    assert patches == set(MUTANTS), (
        f"patches without an entry in mutants.toml: {sorted(patches - set(MUTANTS))}; "
        f"entries without a patch: {sorted(set(MUTANTS) - patches)}")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught(name):
    mutant = MUTANTS[name]
    exe = BUILD / "mutants" / name
    assert exe.exists(), f"mutant not built: {exe} (run make mutants)"
    suite = tracks.suite_file(mutant["contract"])
    tests = [f"{suite}::{t}" for t in mutant["caught_by"]]
    # The test paths come first: pytest looks for the conftest.py that
    # defines --exe from the first paths on its command line.
    command = [sys.executable, "-m", "pytest", *tests, "-p",
               "no:cacheprovider", "-q", "-rf", "--exe", str(exe),
               "--contract", mutant["contract"],
               "--name", patched_program(name)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                         errors="replace", timeout=570)
    output = run.stdout + run.stderr
    assert run.returncode != 5, f"no test collected for {name}:\n{output}"
    assert run.returncode == 1, (
        f"mutant {name} ({mutant['wrong']}) passed the tests meant to catch "
        f"it, or the run broke (exit {run.returncode}):\n{output[-4000:]}")
    for test in mutant["caught_by"]:
        assert re.search(rf"FAILED \S*::{re.escape(test)}\b", output), (
            f"mutant {name}: {test} did not fail:\n{output[-4000:]}")
    assert mutant["says"] in output, (
        f"mutant {name} failed, but the failure does not say "
        f"{mutant['says']!r}, which a student needs to see:\n{output[-4000:]}")
