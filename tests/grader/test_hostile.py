"""The grader survives hostile programs, and contains them.

Each program below misbehaves on purpose in one way (a fork bomb, an
infinite loop, a memory hog, a flood of output, a sleeper that also leaves a
daemon behind, one that wrecks its working folder, one that goes after the
tests and the results, one that searches the whole file system for the
kit's tests and leaves a file in /tmp). Each is graded with `grade --exe`
against one quick test; all eight are graded at once (the grader gives each
run its own sandbox uid), so this takes about as long as the slowest one.

The grader must finish in bounded time, write its reports, give no points,
and leave nothing running. Where it runs as root, the programs run as an
unprivileged uid in a file system of their own, and the attempts on the
kit, the tests and the results must all fail: a hostile program leaves a
"proof" file when an attempt succeeds (in a shared folder when it can
reach it, else in its working folder, which the grader keeps with
--keep), and there must be none.

The slow tests grade the programs that hang, spin, fork or flood against
the whole fetch-line suite (each within HANG_LIMIT_S, saying what the
program did), and stop the grader with a signal in the middle of a run.
"""

import concurrent.futures
import csv
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRADE = ROOT / "grader" / "grade"
SELECT = "COM2_help"     # one quick test (the harness allows it 8 s)
ROOT_ONLY = os.geteuid() == 0

# A file a graded program leaves in /tmp: it must not outlive its run.
FORGED = f"/tmp/kit-hostile-forged-{os.getpid()}.json"

HOSTILE = {
    # It exits at once and leaves the bomb behind, in its process group:
    # each copy forks two more, again and again, so the copies fill the
    # sandbox's process limit and stay there (a copy the limit refuses a
    # fork dies, and a sibling takes its place) until the harness kills
    # them. (A bomb whose copies all wait for their children dies out in
    # a second: the copies that cannot fork exit, and so do their parents.)
    "fork-bomb": """#!/bin/sh
bomb() { while :; do (bomb) & (bomb) & wait; done; }
bomb &
exit 0
""",
    "infinite-loop": """#!/bin/sh
while :; do :; done
""",
    "memory-hog": None,      # C, below
    "output-flood": """#!/bin/sh
yes 'flooding stdout, flooding stdout, flooding stdout' &
yes 'and stderr too' >&2 &
head -c 200000000 /dev/zero > big-file
wait
""",
    "sleeper": """#!/bin/sh
setsid sh -c 'sleep 1000' >/dev/null 2>&1 < /dev/null &
exec sleep 1000
""",
    "vandal": """#!/bin/sh
# its own working folder, its own executable, the kit
rm -rf ./* ./.??* 2>/dev/null
echo junk > junk
echo '#!/bin/sh' > "$0" 2>/dev/null && proof rewrote-own-exe
W=$(dirname "$(dirname "$(dirname "$(dirname "$0")")")")
echo x >> "$W/kit/tracks.list" 2>/dev/null && proof wrote-kit
rm -f "$W/kit/Makefile" 2>/dev/null
[ -e "$W/kit/Makefile" ] || [ ! -e "$W/kit" ] || proof deleted-kit-file
echo x >> "$KIT/tracks.list" 2>/dev/null && proof wrote-real-kit
exit 3
""",
    "cheat": """#!/bin/sh
# The grading folder is four levels above the executable it runs.
W=$(dirname "$(dirname "$(dirname "$(dirname "$0")")")")
if cat "$W/kit/tests/conformance/test_fetch_line.py" >/dev/null 2>&1; then
    proof read-tests
fi
for d in /proc/[0-9]*/cwd /proc/[0-9]*/root; do
    cat "$d/tests/conformance/test_fetch_line.py" >/dev/null 2>&1 &&
        proof read-tests-through-proc
done
if cat "$KIT/tests/conformance/test_fetch_line.py" >/dev/null 2>&1; then
    : # the kit's own tests are public: reading them is no secret
fi
for f in "$W"/results/*; do
    echo '{"nodeid": "x", "test": "test_COM2_help_prints_usage_on_stdout_and_exits_0", "track": "exe", "program": "cheat", "contract": "fetch-line", "outcome": "passed"}' >> "$f" 2>/dev/null && proof wrote-results
done
echo '{}' > "$W/results/main.jsonl" 2>/dev/null && proof wrote-results
/usr/bin/python3 -c "
import socket
socket.create_connection(('1.1.1.1', 53), timeout=3)
" 2>/dev/null && proof reached-network
exit 0
""",
    "walker": """#!/bin/sh
# Leaves a forged result in /tmp for whoever comes next, then searches the
# whole file system (but the kernel's /proc and /sys) for the kit's files.
echo '{"score": 1000}' > "$FORGED"
find / -path /proc -prune -o -path /sys -prune -o -type f \\( \
    -name test_fetch_line.py -o -name test_hostile.py -o -name rubric.toml \
    -o -name tracks.list -o -name sandbox-exec.c \\) -print \
    > ./found 2>/dev/null
[ -s ./found ] && proof found-kit-files
touch ./walk-done
exit 0
""",
}

MEMORY_HOG_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    size_t total = 0;
    for (;;) {
        char *p = malloc(64 << 20);
        if (!p) {
            fprintf(stderr, "memory-hog: malloc failed after %zu MiB\n",
                    total >> 20);
            return 1;
        }
        memset(p, 1, 64 << 20);
        total += 64 << 20;
    }
}
"""


# Put after each shell program's first line: where proofs go, and which uid
# it runs as (its working folder, when the shared folders are out of its
# sight).
PROLOGUE = """proof() { touch "$PROOF/$1" 2>/dev/null || touch "./proof-$1"; }
{ id -u > "$UIDS/$(basename "$0")"; } 2>/dev/null || id -u > ./uid 2>/dev/null
"""


def sandbox_processes(uids):
    """(pid, state) of live processes whose uid is one of uids. Zombies
    (dead, waiting for their parent to reap them) do not count."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f
                                  if ":" in line)
                state = fields["State"].split()[0]
                if int(fields["Uid"].split()[0]) in uids and state != "Z":
                    pids.append((int(entry), fields["State"].strip()))
            except (OSError, ValueError, KeyError):
                pass
    return pids


def processes_mentioning(text):
    """Live processes whose command line holds `text` (a work folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if text in cmd and state != "Z" and int(entry) != os.getpid():
                found.append((int(entry), cmd[:200]))
    return found


def wait_until(condition, timeout_s, step_s=0.05):
    """Polls condition() until it is true or timeout_s passed; returns its
    last value. (SIGKILL takes effect when a process next runs: on a busy
    machine a killed process may take a moment to be gone.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step_s)


def _write_programs(folder, names=HOSTILE):
    progs = {}
    for name in names:
        text = HOSTILE[name]
        path = folder / name
        if text is None:
            src = folder / f"{name}.c"
            src.write_text(MEMORY_HOG_C)
            subprocess.run(["cc", "-O1", "-o", str(path), str(src)],
                           check=True)
        else:
            lines = text.split("\n", 1)
            path.write_text(lines[0] + "\n" + PROLOGUE + lines[1])
        path.chmod(0o755)
        progs[name] = path
    return progs


def _kept_folder(out):
    """The work folder the grader kept (--keep), from its report."""
    match = re.search(r"work folder kept: (\S+)",
                      (out / "report.txt").read_text())
    return Path(match.group(1)) if match else None


def _proofs(base, kept):
    """The attempts that succeeded: proof files in the shared folder and in
    the kept work folders."""
    found = {p.name for p in (base / "proof").iterdir()}
    for folder in kept:
        found |= {p.name[len("proof-"):] for p in folder.glob("scratch-*/proof-*")}
    return sorted(found)


def _uids(base, kept):
    files = list((base / "uids").iterdir())
    for folder in kept:
        files += list(folder.glob("scratch-*/uid"))
    return {int(f.read_text()) for f in files
            if f.read_text().strip().isdigit()}


def _grade(base, prog, out, select=SELECT, keep=True, env=None):
    args = [str(GRADE), "--exe", str(prog),
            "--program", "fetch-line", "--out", str(out)]
    if select:
        args += ["-k", select]
    if keep:
        args.append("--keep")
    t0 = time.monotonic()
    run = subprocess.run(args, capture_output=True, text=True, timeout=300,
                         env=env)
    return run, time.monotonic() - t0


@pytest.fixture(scope="module")
def graded():
    """{name: (CompletedProcess, seconds, out folder)} for every hostile
    program, graded all at once, and the base folder."""
    base = Path(tempfile.mkdtemp(prefix="grader-hostile-"))
    os.chmod(base, 0o755)
    progs = _write_programs(base)
    for folder in ("proof", "uids"):
        (base / folder).mkdir()
        os.chmod(base / folder, 0o777)
    kit_before = (ROOT / "tracks.list").read_bytes()
    env = dict(os.environ, PROOF=str(base / "proof"), KIT=str(ROOT),
               UIDS=str(base / "uids"), FORGED=FORGED)

    def grade(name):
        out = base / "out" / name
        return (*_grade(base, progs[name], out, env=env), out)

    with concurrent.futures.ThreadPoolExecutor(len(progs)) as pool:
        results = dict(zip(progs, pool.map(grade, progs)))
    kept = [k for k in (_kept_folder(out) for _, _, out in results.values())
            if k]
    yield results, base, kept
    assert (ROOT / "tracks.list").read_bytes() == kit_before
    for folder in kept + [base]:
        shutil.rmtree(folder, ignore_errors=True)
    Path(FORGED).unlink(missing_ok=True)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_contained(graded, name):
    run, seconds, out = graded[0][name]
    assert run.returncode == 0, (
        f"the grader failed on {name} (exit {run.returncode}):\n"
        f"{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    assert seconds < 120, f"grading {name} took {seconds:.0f} s"
    results = json.loads((out / "results.json").read_text())
    assert results["tests"], f"no test in results.json for {name}"
    assert results["score"] == 0, (
        f"{name} should score nothing, got {results['score']}:\n"
        f"{(out / 'report.txt').read_text()}")
    for report in out.iterdir():
        assert report.stat().st_size < 2_000_000, \
            f"{report} is {report.stat().st_size} bytes"
    assert "Traceback" not in run.stderr, run.stderr


def _said(run, out):
    return run.stdout + run.stderr + (out / "report.txt").read_text()


@pytest.mark.timeout(400)
def test_nothing_escapes_and_no_attempt_succeeded(graded):
    results, base, kept = graded
    run, _, out = results["cheat"]
    if not ROOT_ONLY:
        # Without root the grader cannot run student code as another user,
        # so the attempts may succeed; it must then say so plainly.
        assert "not running as root" in _said(run, out), (
            "the grader runs without root, so student code runs as the "
            "grader's own user, and it did not warn about it:\n" +
            _said(run, out))
        return
    succeeded = _proofs(base, kept)
    assert not succeeded, (
        f"hostile programs managed: {succeeded} (see tests/grader/"
        f"test_hostile.py for what each proof file means)")
    used = _uids(base, kept)
    assert used and 0 not in used, f"the programs ran as uids {used}"
    left = wait_until(lambda: not sandbox_processes(used), 10) or \
        sandbox_processes(used)
    assert left is True, (f"sandbox processes still running 10 s after "
                          f"grading: {left}")
    locks = Path("/tmp/kit-grade-uids")
    assert not locks.exists() or stat.S_IMODE(locks.stat().st_mode) == 0o700


@pytest.mark.timeout(400)
def test_a_run_sees_none_of_the_kit_and_its_tmp_is_its_own(graded):
    """The walker searched the whole file system from inside its run: the
    kit's files are nowhere, and the file it left in /tmp is gone."""
    results, base, kept = graded
    run, _, out = results["walker"]
    said = _said(run, out)
    if not ROOT_ONLY:
        assert "not running as root" in said and "kit's tests" in said, (
            "without root nothing is hidden, and the grader must say so:\n"
            + said)
        return
    assert not Path(FORGED).exists(), (
        f"{FORGED}, written in /tmp by a graded program, is still there: "
        f"the run's /tmp was not its own")
    scratch = [f for k in kept for f in k.glob("scratch-*")
               if (f / "walk-done").exists()]
    assert scratch, ("the walker never finished its search of the file "
                     "system (no walk-done file in its working folder)")
    found = (scratch[0] / "found").read_text()
    assert found == "", f"a graded program found the kit's files:\n{found}"


# ---------------------------------------------------------------------------
# Programs that misbehave in every test (slow): each graded against the whole
# fetch-line suite within HANG_LIMIT_S, with feedback that says what it did.

HANG_LIMIT_S = 90
HANGS = {
    "sleeper": "did not exit in time",
    "infinite-loop": "kept the CPU busy",
    "fork-bomb": "it forks",
    "output-flood": "flooded its output",
}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_program_that_misbehaves_in_every_test_is_graded_quickly(tmp_path):
    progs = _write_programs(tmp_path, HANGS)
    for folder in ("proof", "uids"):
        (tmp_path / folder).mkdir()
        os.chmod(tmp_path / folder, 0o777)
    os.chmod(tmp_path, 0o755)
    env = dict(os.environ, PROOF=str(tmp_path / "proof"),
               UIDS=str(tmp_path / "uids"))

    def grade(name):
        return _grade(tmp_path, progs[name], tmp_path / "out" / name,
                      select="", keep=False, env=env)

    with concurrent.futures.ThreadPoolExecutor(len(progs)) as pool:
        results = dict(zip(progs, pool.map(grade, progs)))
    for name, (run, seconds) in results.items():
        out = tmp_path / "out" / name
        assert run.returncode == 0, run.stderr[-3000:]
        report = (out / "report.txt").read_text()
        assert seconds <= HANG_LIMIT_S, (
            f"grading {name} against the whole suite took {seconds:.0f} s "
            f"(at most {HANG_LIMIT_S} s):\n{report[:3000]}")
        assert json.loads((out / "results.json").read_text())["score"] == 0
        assert "remaining tests score 0 without running" in report, report
        assert HANGS[name] in report, (
            f"the feedback on {name} should say it {HANGS[name]!r}:\n"
            f"{report[:3000]}")


# ---------------------------------------------------------------------------
# Stopping the grader: SIGINT, SIGTERM or SIGHUP in the middle of a run kills
# everything it started, in every sandbox, and says what was not graded.

# Hangs in every test and leaves a daemon that keeps the program's path in
# its command line (so it can be found: it runs under the test's TMPDIR).
STUBBORN = """#!/bin/sh
[ "$1" = daemon ] || setsid "$0" daemon </dev/null >/dev/null 2>&1 &
while :; do sleep 1; done
"""

STUBBORN_C = """#include <unistd.h>
int main(void)
{
    if (fork() == 0) {
        setsid();
        for (;;)
            pause();
    }
    for (;;)
        pause();
}
"""


def _running_programs(tmpdir):
    """The graded programs running under the grader's work folders: their
    path lies in its exe/ folder."""
    return [p for p in processes_mentioning(str(tmpdir))
            if "/exe/" in p[1] and "pytest" not in p[1]]


def _uids_of(pids):
    uids = set()
    for pid in pids:
        try:
            uids.add(os.stat(f"/proc/{pid}").st_uid)
        except OSError:
            pass
    return uids


@pytest.fixture
def tmpdir_open():
    """A TMPDIR for the grader under test, which the sandbox uid can
    traverse (pytest's own tmp_path is closed to other users)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-stop-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _stop_mid_run(argv, tmpdir, sig):
    """Starts the grader, waits until graded programs run, sends sig;
    returns (exit status, stdout, stderr, uids seen)."""
    env = dict(os.environ, TMPDIR=str(tmpdir))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        running = wait_until(lambda: _running_programs(tmpdir)
                             or proc.poll() is not None, 60)
        assert proc.poll() is None, (
            "the grader ended before it was stopped:\n" +
            "".join(proc.communicate()))
        assert running, "the graded program never started"
        uids = _uids_of(pid for pid, _ in running)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, out, err, uids


def _assert_nothing_left(tmpdir, uids):
    left = wait_until(lambda: not processes_mentioning(str(tmpdir)), 10) \
        or processes_mentioning(str(tmpdir))
    assert left is True, f"still running after the grader stopped: {left}"
    if ROOT_ONLY:
        assert uids and 0 not in uids, uids
        assert not sandbox_processes(uids), sandbox_processes(uids)
    assert not list(Path(tmpdir).glob("kit-grade-*")), (
        f"work folders left behind: {list(Path(tmpdir).iterdir())}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_a_signal_stops_the_grader_and_everything_it_started(
        tmp_path, tmpdir_open, sig):
    prog = tmpdir_open / "stubborn"
    prog.write_text(STUBBORN)
    prog.chmod(0o755)
    tmpdir = tmpdir_open
    out = tmp_path / "out"
    rc, _, err, uids = _stop_mid_run(
        [str(GRADE), "--exe", str(prog), "--program",
         "fetch-line", "--out", str(out), "-k", "FL1_default"], tmpdir, sig)
    assert rc == 128 + sig, (rc, err[-2000:])
    _assert_nothing_left(tmpdir, uids)
    report = (out / "report.txt").read_text()
    assert "NOT GRADED" in report and sig.name in report, report


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_stops_a_batch_and_the_gradebook_names_what_was_not_graded(
        tmp_path, tmpdir_open):
    cls = tmp_path / "class"
    for student in ("ann", "ben", "cal"):
        (cls / student).mkdir(parents=True)
        (cls / student / "fetch-line.c").write_text(STUBBORN_C)
    tmpdir = tmpdir_open
    out = tmp_path / "grades"
    rc, _, err, uids = _stop_mid_run(
        [str(GRADE), "--batch", str(cls), "--track",
         "blocking-threads", "--program", "fetch-line", "--no-checks",
         "--jobs", "2", "--out", str(out), "-k", "FL1_default"],
        tmpdir, signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, (rc, err[-2000:])
    _assert_nothing_left(tmpdir, uids)
    rows = {r["student"]: r for r in
            csv.DictReader(open(out / "gradebook.csv"))}
    assert set(rows) == {"ann", "ben", "cal"}, rows
    for student, row in rows.items():
        assert row["score"] == "not graded", row
        assert "SIGTERM" in row["notes"], row
    assert "NOT graded: ann, ben, cal" in err, err[-2000:]
