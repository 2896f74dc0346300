"""The student kit (`make starter`) holds no solution, and every command
its README and lessons name works in it.

Builds the student kit from scratch into a temporary folder, from the full
kit's build in $KIT_BUILD (`make all mutants` first: the demo's reference
columns are recorded from it), then runs there what a student runs: make,
make demo, the conformance tests (which must fail, saying what is missing),
make grade-me, make test-lessons. About half a minute: `make test-starter` (part of `make test`).
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from harness import tracks

ROOT = tracks.ROOT
from grader.gradelib import starter

pytestmark = pytest.mark.timeout(900)


def sh(command, cwd, timeout=600, env=None):
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                         errors="replace", timeout=timeout,
                         env=dict(os.environ, **(env or {})))
    return run.returncode, run.stdout + run.stderr


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The student kit, made and built."""
    dest = tmp_path_factory.mktemp("student") / "starter"
    rc, out = sh([sys.executable, "grader/make-starter", str(dest)], ROOT)
    assert rc == 0, f"make-starter failed:\n{out[-4000:]}"
    rc, out = sh(["make", "-j2", "--no-print-directory"], dest)
    assert rc == 0, f"`make` fails in the student kit:\n{out[-4000:]}"
    yield dest
    shutil.rmtree(dest.parent, ignore_errors=True)


def test_no_line_of_any_solution_is_in_the_student_kit(kit):
    secret = starter.secret_lines(ROOT)
    assert len(secret) > 500, "the full kit should have solution regions"
    leaks = starter.find_leaks(kit, secret)
    assert not leaks, "solution lines in the student kit:\n" + "\n".join(
        f"{p}:{n}: {line.strip()}" for p, n, line in leaks[:20])


def test_a_planted_leak_is_found(kit, tmp_path):
    """The leak check can fail: one solution line, quoted in a lesson, in
    a test fixture or in a comment, is found wherever it is."""
    secret = sorted(starter.secret_lines(ROOT))
    line = next(s for s in secret if "fut_tcp_read_line" in s or "(" in s)
    for where, text in [("lessons/x.md", f"Look:\n\n    {line}\n"),
                        ("tests/fixture.txt", line + "\n"),
                        ("common/x.h", f"/* e.g.\n *   {line}\n */\n")]:
        copy = tmp_path / where.replace("/", "_")
        shutil.copytree(kit / "lessons", copy / "lessons")
        (copy / where).parent.mkdir(parents=True, exist_ok=True)
        (copy / where).write_text(text)
        leaks = starter.find_leaks(copy, set(secret))
        assert [p for p, _, _ in leaks] == [where], (where, leaks)


def test_solution_excerpts_are_boxes_and_given_code_stays(kit):
    full = "\n".join(p.read_text() for p in (ROOT / "lessons").glob("*.md"))
    mine = "\n".join(p.read_text() for p in (kit / "lessons").glob("*.md"))
    boxes = re.findall(r"^<!-- you write this: (\S+) lesson:(\S+) -->$",
                       mine, re.M)
    assert boxes, "no 'you write this' box in the student lessons"
    for path, name in boxes:
        assert f"<!-- excerpt: {path} lesson:{name} -->" in full
        assert starter.solution_excerpt(ROOT, path, name) is not None
    # Each box says what to write, the spec items and a hint.
    assert mine.count("**What it must do:**") == len(boxes)
    assert mine.count("**Hint:**") == len(boxes)
    assert starter.DEFAULT_HINT not in mine, (
        "a box without its own hint: add it to lessons/hints.toml")
    # Excerpts of given code are still there, and still match.
    assert "<!-- excerpt: common/" in mine or "<!-- excerpt: async-futures/fut/" in mine
    rc, out = sh([sys.executable, "lessons/excerpts.py", "--check"], kit)
    assert rc == 0, out


def test_no_mutants_in_the_student_kit(kit):
    assert not (kit / "tests" / "mutants").exists()
    rc, out = sh(["make", "--no-print-directory", "mutants"], kit)
    assert rc == 0, out


def test_make_demo_shows_recordings_beside_the_students_programs(kit):
    rc, out = sh(["make", "--no-print-directory", "demo"], kit,
                 env={"NO_COLOR": "1"})
    assert rc == 0, out[-4000:]
    for scene in ("timeout", "select", "pause", "race"):
        assert f"== {scene}:" in out and f"-- {scene}: the same scene with " \
            f"YOUR programs, run now" in out, scene
    assert out.count("RECORDED when this kit was made") == 4


def test_conformance_fails_and_says_what_is_missing(kit):
    rc, out = sh([sys.executable, "-m", "pytest",
                  "tests/conformance/test_fetch_line.py", "-q",
                  "-p", "no:cacheprovider", "--track", "blocking-threads",
                  "-k", "COM4"], kit, env={"KIT_BUILD": "build"})
    assert rc == 1, f"the stubs pass the conformance tests?\n{out[-3000:]}"
    assert "blocking-threads/fetch-line.c still has the starter's TODO" \
        in out, (
        f"the failure should say what is missing:\n{out[-3000:]}")


def test_grade_me_gives_the_student_a_score(kit):
    rc, out = sh(["make", "--no-print-directory", "grade-me",
                  "TRACK=blocking-threads", "PROGRAM=fetch-line",
                  "GRADE_FLAGS=--no-checks -k COM4"], kit)
    assert rc == 0, out[-4000:]
    assert re.search(r"\b0(\.0+)? */ *\d", out) or "0/" in out, out[-2000:]


def test_make_test_lessons_passes(kit):
    rc, out = sh(["make", "--no-print-directory", "test-lessons"], kit)
    assert rc == 0, out[-4000:]
