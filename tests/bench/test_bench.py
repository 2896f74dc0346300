"""The bench itself (bench/bench.py, bench/ceiling.c): one quick run over one
program per contract, plus an --exe, must measure every program, write every
field of its results file, and keep the ceiling row in each measure.

Not a timing test: no number is compared with another (the machine is
shared). What is checked is that every run completed (every event
delivered, every deadline run ended with its timeout status) and that each
measure holds a number where one belongs.
"""

import json
import subprocess
import sys

import pytest

from harness import tracks

# Every field of a results file (bench/README.md documents them).
TOP = {"date", "machine", "commit", "quick", "instructions_by", "writes_by",
       "sizes", "failures",
       "programs", "results", "seconds"}
MACHINE = {"nproc", "cpu_model", "kernel"}
FLOOD_RUN = {"events_per_s", "seconds", "worst_lateness_ms", "cpu_s",
             "delivered", "complete", "of_ceiling"}
FANOUT = {"deliveries_per_s", "write_syscalls_per_delivery", "cpu_s", "lost",
          "p50_ms", "p99_ms", "latency_lost", "of_ceiling"}
IDLE = {"subscribers", "rss_kib", "threads", "kib_per_conn",
        "threads_per_conn"}
WAITER = {"rss_kib", "threads"}
DEADLINE = {"p50_ms", "p99_ms", "max_ms", "bad"}
WINNER = {"accept_ms", "over_ms", "runs"}

MINE = "yours/mine"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One quick run, with the state-machine journal given as --exe."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    exe = tracks.in_track("manual-statemachine", "journal")[0].path
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench", "--quick", "--no-plots",
         "--json", str(out), "--exe", str(exe), "--contract", "journal",
         "--name", "mine"],
        cwd=tracks.ROOT, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout, proc.stderr


def first_per_contract():
    first = {}
    for e in tracks.load():
        first.setdefault(e.contract, e)
    return first


@pytest.mark.timeout(180)
def test_the_results_file_has_every_field(run):
    data, _, _ = run
    assert set(data) == TOP
    assert set(data["machine"]) == MACHINE
    assert data["machine"]["nproc"] >= 1
    assert data["quick"] is True
    assert data["commit"] and data["commit"] != "unknown"
    res = data["results"]
    ticks = data["sizes"]["flood_ticks"]
    for label, row in res["flood"].items():
        for tick in ticks:
            assert set(row[f"tick{tick}"]) == FLOOD_RUN, label
        assert "instructions_per_event" in row, label
    for label, row in res["fanout"].items():
        assert set(row) == FANOUT, label
    for label, row in res["idle"].items():
        assert set(row) == IDLE, label
    for label, row in res["waiter"].items():
        assert set(row) == WAITER, label
    for label, row in res["deadline"].items():
        assert set(row) == DEADLINE, label
    for label, row in res["winner"].items():
        assert set(row) == WINNER, label


@pytest.mark.timeout(180)
def test_one_program_per_contract_and_the_exe_are_measured(run):
    data, _, _ = run
    res = data["results"]
    first = first_per_contract()
    where = {"dashboard": ["flood"], "journal": ["fanout", "idle"],
             "wait-client": ["waiter", "deadline"], "fetch-line": ["deadline"],
             "happy-eyeballs": ["winner"]}
    assert set(where) == set(first), "a contract the bench does not measure"
    for contract, measures in where.items():
        for measure in measures:
            assert first[contract].id in res[measure], (measure, contract)
    assert MINE in res["fanout"] and MINE in res["idle"]


@pytest.mark.timeout(180)
def test_the_ceiling_row_is_in_each_measure_it_bounds(run):
    data, _, _ = run
    res = data["results"]
    for measure in ("flood", "fanout", "waiter", "deadline"):
        assert "ceiling" in res[measure], measure
    assert res["flood"]["ceiling"][f"tick{data['sizes']['flood_ticks'][0]}"][
        "of_ceiling"] == 1.0
    assert res["fanout"]["ceiling"]["of_ceiling"] == 1.0


@pytest.mark.timeout(180)
def test_every_run_completed(run):
    data, _, _ = run
    assert data["failures"] == []
    res = data["results"]
    for label, row in res["flood"].items():
        for tick in data["sizes"]["flood_ticks"]:
            assert row[f"tick{tick}"]["complete"], (label, tick)
        assert row["instructions_per_event"] is not None, label
        if label != "ceiling":
            # Each event is parsed and escaped: hundreds of instructions.
            assert row["instructions_per_event"] > 10, label
            # A flood that outlasts two ticks has a tick to be late for.
            run = row[f"tick{tick}"]
            if run["seconds"] * 1000 > 2 * tick:
                assert run["worst_lateness_ms"] is not None, label
    for label, row in res["fanout"].items():
        assert row["lost"] == 0 and row["latency_lost"] == 0, label
        assert row["deliveries_per_s"] > 0 and row["p99_ms"] is not None
        assert row["write_syscalls_per_delivery"] > 0, label
    for label, row in res["idle"].items():
        low, high = row["subscribers"]
        # Both measured; no order between them: in a quick run, 40 more
        # idle subscribers of an event-loop journal cost about as much as
        # RSS moves by itself from run to run (tens of KiB). The full
        # run's 100 and 500 are where lesson 08 reads the cost.
        assert row["rss_kib"][0] > 0 and row["rss_kib"][1] > 0, label
    for label, row in res["deadline"].items():
        assert row["bad"] == 0 and row["p50_ms"] is not None, label
        # A deadline is never met early (FL-1, WC-3).
        assert row["p50_ms"] >= 0, label
    for label, row in res["winner"].items():
        assert row["accept_ms"] is not None, label


@pytest.mark.timeout(180)
def test_the_table_names_every_row_and_progress_goes_to_stderr(run):
    data, out, err = run
    for measure in data["results"].values():
        for label in measure:
            assert label in out, label
    assert "bench [1/" in err and "bench [1/" not in out


@pytest.mark.timeout(120)
def test_a_program_that_breaks_is_reported_and_the_rest_measured(tmp_path):
    """A student's --exe that does not keep its contract (here: a shell
    script that exits at once) fails its own rows only."""
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench", "--quick", "--no-plots",
         "--track", "async-futures", "--json", str(out), "--exe",
         str(broken), "--contract", "journal"],
        cwd=tracks.ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    failed = {(f["measure"], f["program"]) for f in data["failures"]}
    assert ("burst", "yours/broken") in failed
    assert all(program == "yours/broken" for _, program in failed)
    assert "yours/broken" not in data["results"]["fanout"]
    assert "async-futures/journal" in data["results"]["fanout"]
    assert "FAILED: burst of yours/broken" in proc.stdout
