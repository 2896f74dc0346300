"""The grader grades right: the rubric covers the suite, the reference
track scores full marks, a mutant loses exactly the points of its bug's
tests, a class of three is graded into a gradebook, and solution regions
are stripped from starter code.

The slow cases (a whole track, ~2 minutes) are marked `slow`; `make
test-grader` runs everything here.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRADE = ROOT / "grader" / "grade"
from grader.gradelib import build as build_mod, rubric as rubric_mod, starter
from harness import tracks


def grade(*args, timeout=600):
    run = subprocess.run([str(GRADE), *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, (f"grade {' '.join(map(str, args))} "
                                 f"exited {run.returncode}:\n"
                                 f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def test_every_conformance_test_counts_in_a_group_with_points():
    rub = rubric_mod.load()
    for contract in tracks.contracts():
        text = tracks.suite_file(contract).read_text()
        for test in re.findall(r"^def (test_\w+)", text, re.MULTILINE):
            group = rub.group_of(contract, test)
            assert group is not None, f"{test} ({contract}) is in no group"
            if rubric_mod.test_ids(test):
                assert group.item != "*", (
                    f"{test}: its IDs {rubric_mod.test_ids(test)} have no "
                    f"group in grader/rubric.toml")


def test_a_test_counts_in_the_group_of_its_first_id_with_a_group():
    rub = rubric_mod.load()
    g = rub.group_of("fetch-line", "test_COM6_FL3_a_line_of_65537_bytes")
    assert g.item == "COM-6"
    assert rubric_mod.test_ids("test_JR10_max_clients_busy") == ["JR10"]
    assert rubric_mod.test_ids("test_send_text_reaches") == []


def test_a_wrong_rubric_is_refused_with_its_place(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text('[[group]]\ncontract = "fetch-line"\nitem = "FL-1"\n'
                   'points = 2\nvisibility = "secret"\n')
    with pytest.raises(rubric_mod.RubricError, match="group 1: visibility"):
        rubric_mod.load(bad)
    run = subprocess.run([str(GRADE), "--rubric",
                          str(bad), "--exe", "/bin/true", "--program",
                          "fetch-line"], capture_output=True, text=True)
    assert run.returncode == 2 and "visibility" in run.stderr


def test_strip_removes_solutions_and_keeps_stubs():
    text = ("int a;\n/* BEGIN SOLUTION */\nint secret;\n/* END SOLUTION */\n"
            "int f(void)\n{\n    /* BEGIN SOLUTION */\n    return 42;\n"
            "    /* STUB\n    return -1;\n    END SOLUTION */\n}\n")
    out, n = starter.strip(text)
    assert n == 2
    assert out == "int a;\nint f(void)\n{\n    return -1;\n}\n"
    with pytest.raises(starter.MarkerError, match="never closed"):
        starter.strip("/* BEGIN SOLUTION */\nx\n", "f.c")


# ---------------------------------------------------------------------------
# Whole submissions (slow)

@pytest.mark.slow
@pytest.mark.timeout(600)
def test_reference_track_scores_full_marks(tmp_path):
    sub = tmp_path / "reference"
    shutil.copytree(ROOT / "blocking-threads", sub)
    grade("--track", "blocking-threads", sub, "--out", tmp_path / "out")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    lost = [t for t in results["tests"] if t["status"] != "passed"]
    assert not lost and results["score"] == \
        results["extra_data"]["max_score"], (
        f"the reference track lost points:\n" +
        "\n".join(f"{t['name']}: {t['output'][:1500]}" for t in lost))
    names = " ".join(t["name"] for t in results["tests"])
    for check in ("build", "sanitizers", "tsan", "model"):
        assert f" {check}:" in names, f"no {check} check in the results"


MUTANT = "fetch-line-rearmed-timeout"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_mutant_loses_exactly_the_points_of_its_bugs_tests(tmp_path):
    mutants = tomllib.loads(
        (ROOT / "tests" / "mutants" / "mutants.toml").read_text())
    mutant = mutants[MUTANT]
    patch = ROOT / "tests" / "mutants" / f"{MUTANT}.patch"
    target = re.search(r"^\+\+\+ [ab]/(\S+)", patch.read_text(),
                       re.MULTILINE).group(1)
    track, main = target.split("/")
    program = main[:-2]
    sub = tmp_path / "student"
    shutil.copytree(ROOT / track, sub)
    subprocess.run(["patch", "--quiet", "-o", str(sub / main),
                    str(ROOT / target), str(patch)], check=True)
    grade("--track", track, "--program", program, "--no-checks", sub,
          "--out", tmp_path / "out")
    out = tmp_path / "out"
    results = json.loads((out / "results.json").read_text())
    rub = rubric_mod.load()
    failing = {}
    for t in results["tests"]:
        for line in t["output"].splitlines():
            if line.startswith("- test_"):
                name = re.match(r"- (test_\w+)", line).group(1)
                failing.setdefault(t["name"], []).append(name)
    failed = {n for names in failing.values() for n in names}
    # mutants.toml lists the tests that MUST fail; a mutant may break more.
    assert set(mutant["caught_by"]) <= failed, (
        f"expected {mutant['caught_by']} to fail, got {sorted(failed)}")
    # Every point lost is a failed test's, in its own group, in proportion:
    # nothing outside the failed tests' groups is lost.
    for t in results["tests"]:
        passed, total = map(int, re.match(r"(\d+) of (\d+) tests passed",
                                          t["output"]).groups())
        assert total - passed == len(failing.get(t["name"], []))
        assert t["score"] == pytest.approx(
            round(t["max_score"] * passed / total, 2)), t
        for name in failing.get(t["name"], []):
            assert rub.group_of(mutant["contract"], name).item in t["name"]
    lost = sum(t["max_score"] - t["score"] for t in results["tests"])
    assert lost > 0
    assert mutant["says"] in json.dumps(results)


def _broken(folder):
    src = folder / "fetch-line.c"
    src.write_text(src.read_text() + "\nint broken(void) { return nope; }\n")


def _warned(folder):
    src = folder / "fetch-line.c"
    src.write_text(src.read_text() + "\nint warned(void);\n"
                   "int warned(void) { int unused; return 0; }\n")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_class_of_three_gives_a_gradebook(tmp_path):
    """One folder, one .zip with a build error, one .tar.gz with a warning;
    only fetch-line, a few tests, warnings checked."""
    rubric = tmp_path / "rubric.toml"
    text = (ROOT / "grader" / "rubric.toml").read_text()
    # The ASan check stays on: a program that does not build must still
    # count it (at zero), so that every student has the same maximum.
    for check in ("tsan", "model"):
        text = text.replace(f"[checks.{check}]\nenabled = true",
                            f"[checks.{check}]\nenabled = false")
    rubric.write_text(text)
    cls = tmp_path / "class"
    cls.mkdir()
    shutil.copytree(ROOT / "blocking-threads", cls / "ada")
    for name, spoil in (("bob", _broken), ("cy", _warned)):
        work = tmp_path / name / "blocking-threads"
        shutil.copytree(ROOT / "blocking-threads", work)
        spoil(work)
        if name == "bob":
            with zipfile.ZipFile(cls / "bob.zip", "w") as z:
                for f in work.iterdir():
                    z.write(f, f"bob/blocking-threads/{f.name}")
        else:
            with tarfile.open(cls / "cy.tar.gz", "w:gz") as t:
                t.add(work, "blocking-threads")
    out = tmp_path / "grades"
    grade("--batch", cls, "--track", "blocking-threads", "--program",
          "fetch-line", "--jobs", "2", "--rubric", rubric, "--out", out,
          "-k", "COM2_help or FL1_deadline_covers_whole")
    rows = {r["student"]: r for r in
            csv.DictReader(open(out / "gradebook.csv"))}
    assert set(rows) == {"ada", "bob", "cy"}
    assert rows["ada"]["max"] == rows["cy"]["max"], rows
    assert rows["ada"]["score"] == rows["ada"]["max"]
    assert float(rows["bob"]["score"]) == 0
    assert float(rows["cy"]["score"]) == float(rows["cy"]["max"]) - 1
    bob = (out / "bob" / "report.txt").read_text()
    assert "did not build" in bob and "nope" in bob, bob
    # A program that does not build still counts the ASan check, at zero.
    assert re.search(r"0 / \d+(\.\d+)?\s+sanitizers: ASan", bob), bob
    cy = (out / "cy" / "report.txt").read_text()
    assert "unused" in cy and "builds only without -Werror" in cy, cy
    for who in rows:
        assert (out / who / "junit.xml").exists()


# ---------------------------------------------------------------------------
# Starter code

STARTER_PROGRAMS = [f"{e.track}/{e.program}.c" for e in tracks.load()]

# What a stub that only parses its command line and fails still earns:
# the command line (common/cli does it), no death by SIGPIPE, and the
# rules that only ask for an error exit. Anything else means a solution
# leaked into the starter.
STARTER_FREE_ITEMS = {"COM-2", "COM-8", "FL-3", "DB-6"}


def test_every_program_has_a_solution_region_and_strips_cleanly():
    for rel in STARTER_PROGRAMS:
        text = (ROOT / rel).read_text()
        out, n = starter.strip(text, rel)
        assert n >= 1, f"{rel} has no /* BEGIN SOLUTION */ region"
        assert "SOLUTION" not in out and "/* STUB" not in out, rel


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_starter_kit_builds_keeps_every_test_and_scores_near_zero(tmp_path):
    kit = tmp_path / "starter"
    run = subprocess.run(["/usr/bin/python3", str(ROOT / "grader" /
                                                  "make-starter"), str(kit)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "warning" not in run.stderr, run.stderr
    # Every test is there, unchanged, but the mutants: they are the
    # instructor's (grader/README.md, "Editions").
    mutants = ROOT / "tests" / "mutants"
    assert not (kit / mutants.relative_to(ROOT)).exists(), \
        "the starter holds tests/mutants/, the instructor's"
    for path in (ROOT / "tests").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts \
                and not path.is_relative_to(mutants):
            copy = kit / path.relative_to(ROOT)
            assert copy.is_file() and copy.read_bytes() == path.read_bytes(), \
                f"{path.relative_to(ROOT)} is missing or changed in the starter"
    for rel in STARTER_PROGRAMS:
        text = (kit / rel).read_text()
        assert "BEGIN SOLUTION" not in text and "STUB" not in text, rel
    # It builds with the kit's flags (-Werror) and nothing else.
    run = subprocess.run(["make", "-C", str(kit), "-j2", "--no-print-directory",
                          f"BUILD={tmp_path / 'build'}"],
                         capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "warning" not in run.stderr, run.stderr[-3000:]
    # Graded as a submission, the starter earns only what needs no code.
    grade("--track", "blocking-threads", "--no-checks",
          kit / "blocking-threads", "--out", tmp_path / "out")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    earned = {t["name"]: t["score"] for t in results["tests"] if t["score"]}
    leaked = [name for name in earned
              if not set(re.findall(r"\b[A-Z]+-\d+\b", name))
              & STARTER_FREE_ITEMS]
    assert not leaked, f"the starter earns points for: {leaked}"
    assert results["score"] <= 0.2 * results["extra_data"]["max_score"], \
        (results["score"], results["extra_data"]["max_score"])


# ---------------------------------------------------------------------------
# Programs that are folders (--exe DIR --run ENTRY)

PY_EXAMPLE = ROOT / "grader" / "examples" / "python-fetch-line"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_two_file_python_program_is_graded_as_a_folder(tmp_path):
    """main.py imports netline.py from its own folder: graded as a folder
    it scores full marks on the whole fetch-line suite."""
    out = tmp_path / "out"
    grade("--exe", PY_EXAMPLE, "--run", "main.py", "--program",
          "fetch-line", "--out", out)
    results = json.loads((out / "results.json").read_text())
    lost = [t for t in results["tests"] if t["status"] != "passed"]
    assert not lost and results["score"] == \
        results["extra_data"]["max_score"] > 0, (
        "the Python fetch-line lost points:\n" +
        "\n".join(f"{t['name']}: {t['output'][:1500]}" for t in lost))


def test_a_shell_launcher_in_a_folder_runs_the_program_beside_it(tmp_path):
    out = tmp_path / "out"
    grade("--exe", PY_EXAMPLE, "--run", "launch.sh", "--program",
          "fetch-line", "--out", out, "-k",
          "COM2_help or FL1_deadline_covers_whole or COM4")
    results = json.loads((out / "results.json").read_text())
    assert results["score"] == results["extra_data"]["max_score"] > 0, \
        (out / "report.txt").read_text()
    assert "ModuleNotFoundError" not in (out / "report.txt").read_text()


def test_a_program_folder_over_the_size_limit_is_refused_clearly(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "run").write_text("#!/bin/sh\nexit 0\n")
    (folder / "run").chmod(0o755)
    with open(folder / "data.bin", "wb") as f:       # sparse: no disk used
        f.truncate(build_mod.MAX_SUBMISSION_BYTES + 1)
    out = tmp_path / "out"
    grade("--exe", folder, "--run", "run", "--program", "fetch-line",
          "--out", out)
    report = (out / "report.txt").read_text()
    assert "is too big" in report and "MiB" in report, report
    assert json.loads((out / "results.json").read_text())["score"] == 0


def test_a_folder_needs_run_and_run_needs_a_folder(tmp_path):
    for args in (["--exe", PY_EXAMPLE], ["--exe", "/bin/true", "--run",
                                         "x"]):
        run = subprocess.run([str(GRADE), *map(
            str, args), "--program", "fetch-line"], capture_output=True,
            text=True)
        assert run.returncode == 2 and "--run" in run.stderr, run.stderr


def test_results_json_keeps_to_gradescopes_documented_fields():
    from grader.gradelib import grading, reports
    from grader.gradelib.score import Item
    outcome = grading.Outcome("ann", "blocking-threads", "a test")
    outcome.items = [
        Item("blocking-threads/fetch-line", "FL-1", "one deadline", 2.5, 5,
             "visible", "1 of 2 tests passed."),
        Item("blocking-threads/fetch-line", "JR-12", "", 1, 1,
             "after_due_date", "1 of 1 tests passed.")]
    data = reports.results_json(outcome)
    assert reports.gradescope_problems(json.loads(json.dumps(data))) == []
    data["tests"][0]["status"] = "partial"
    data["tests"][1]["visibility"] = "secret"
    data["grade"] = 3
    problems = " ".join(reports.gradescope_problems(data))
    assert "partial" in problems and "secret" in problems and \
        "'grade'" in problems, problems


def test_the_grader_gives_up_only_on_a_program_that_hangs_from_the_start():
    """The plugin's rule: the first tests (at least three, in at least two
    test functions) all hit a limit; one test function alone, or one test
    that behaves, and the program is tested in full."""
    from grader.gradelib import plugin

    def finish(prog, test, killed):
        plugin._watch.reset()
        plugin._watch.killed = killed
        plugin._account(prog, {"test": test, "outcome": "failed",
                               "message": ""})

    plugin._limited.clear()
    plugin._given_up.clear()
    for case in range(5):      # a server that ignores bad options
        finish("t/usage-only", "test_COM2_usage_error_exits_2", True)
    assert "t/usage-only" not in plugin._given_up
    finish("t/usage-only", "test_COM2_help_prints_usage", True)
    assert "did not exit in time" in plugin._given_up["t/usage-only"]
    finish("t/behaves", "test_COM2_help", False)   # failed, but no limit
    for test in ("test_a", "test_b", "test_c"):
        finish("t/behaves", test, True)
    assert "t/behaves" not in plugin._given_up
