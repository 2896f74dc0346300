"""The grader survives hostile programs, and contains them.

Each program below misbehaves on purpose in one way (a fork bomb, an
infinite loop, a memory hog, a flood of output, a sleeper that also leaves a
daemon behind, one that wrecks its working folder, one that goes after the
tests and the results). Each is graded with `grade --exe` against one quick
test; all seven are graded at once (the grader gives each run its own
sandbox uid), so this takes about as long as the slowest one.

The grader must finish in bounded time, write its reports, give no points,
and leave nothing running. Where it runs as root, the programs run as an
unprivileged uid, and the attempts on the kit, the tests and the results
must all fail: each hostile program leaves a "proof" file in a shared
folder when an attempt succeeds, and there must be none.
"""

import concurrent.futures
import json
import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRADE = ROOT / "grader" / "grade"
SELECT = "COM2_help"     # one quick test (the harness allows it 8 s)
UIDS = range(61000, 62000)
ROOT_ONLY = os.geteuid() == 0

HOSTILE = {
    "fork-bomb": """#!/bin/sh
bomb() { bomb & bomb & wait; }
bomb
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
echo '#!/bin/sh' > "$0" 2>/dev/null && touch "$PROOF/rewrote-own-exe"
W=$(dirname "$(dirname "$(dirname "$(dirname "$0")")")")
echo x >> "$W/kit/tracks.list" 2>/dev/null && touch "$PROOF/wrote-kit"
rm -f "$W/kit/Makefile" 2>/dev/null
[ -e "$W/kit/Makefile" ] || touch "$PROOF/deleted-kit-file"
echo x >> "$KIT/tracks.list" 2>/dev/null && touch "$PROOF/wrote-real-kit"
exit 3
""",
    "cheat": """#!/bin/sh
# The grading folder is four levels above the executable it runs.
W=$(dirname "$(dirname "$(dirname "$(dirname "$0")")")")
if cat "$W/kit/tests/conformance/test_fetch_line.py" >/dev/null 2>&1; then
    touch "$PROOF/read-tests"
fi
if cat "$KIT/tests/conformance/test_fetch_line.py" >/dev/null 2>&1; then
    : # the kit's own tests are public: reading them is no secret
fi
for f in "$W"/results/*; do
    echo '{"nodeid": "x", "test": "test_COM2_help_prints_usage_on_stdout_and_exits_0", "track": "exe", "program": "cheat", "contract": "fetch-line", "outcome": "passed"}' >> "$f" 2>/dev/null && touch "$PROOF/wrote-results"
done
echo '{}' > "$W/results/main.jsonl" 2>/dev/null && touch "$PROOF/wrote-results"
/usr/bin/python3 -c "
import socket
socket.create_connection(('1.1.1.1', 53), timeout=3)
" 2>/dev/null && touch "$PROOF/reached-network"
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


def sandbox_processes(uids=UIDS):
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


def _write_programs(folder):
    progs = {}
    for name, text in HOSTILE.items():
        path = folder / name
        if text is None:
            src = folder / f"{name}.c"
            src.write_text(MEMORY_HOG_C)
            subprocess.run(["cc", "-O1", "-o", str(path), str(src)],
                           check=True)
        else:
            # Each says which uid it ran as, so the test looks for
            # leftovers of exactly those uids (other gradings may run).
            lines = text.split("\n", 1)
            path.write_text(lines[0] + '\nid -u > "$UIDS/$(basename "$0")" '
                            '2>/dev/null\n' + lines[1])
        path.chmod(0o755)
        progs[name] = path
    return progs


@pytest.fixture(scope="module")
def graded():
    """{name: (CompletedProcess, seconds, out folder, proof folder)} for
    every hostile program, graded all at once."""
    base = Path(tempfile.mkdtemp(prefix="grader-hostile-"))
    os.chmod(base, 0o755)
    progs = _write_programs(base)
    proof = base / "proof"
    uids = base / "uids"
    for folder in (proof, uids):
        folder.mkdir()
        os.chmod(folder, 0o777)
    kit_before = (ROOT / "tracks.list").read_bytes()
    env = dict(os.environ, PROOF=str(proof), KIT=str(ROOT), UIDS=str(uids))

    def grade(name):
        out = base / "out" / name
        t0 = time.monotonic()
        run = subprocess.run(
            ["/usr/bin/python3", str(GRADE), "--exe", str(progs[name]),
             "--program", "fetch-line", "--out", str(out), "-k", SELECT],
            capture_output=True, text=True, timeout=300, env=env)
        return run, time.monotonic() - t0, out

    with concurrent.futures.ThreadPoolExecutor(len(progs)) as pool:
        results = dict(zip(progs, pool.map(grade, progs)))
    yield {n: (*r, proof, uids) for n, r in results.items()}
    assert (ROOT / "tracks.list").read_bytes() == kit_before
    subprocess.run(["rm", "-rf", str(base)])


@pytest.mark.timeout(400)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_contained(graded, name):
    run, seconds, out, proof, _ = graded[name]
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
    assert "the grader" not in run.stderr.lower() or "Traceback" \
        not in run.stderr, run.stderr


@pytest.mark.timeout(400)
def test_nothing_escapes_and_no_attempt_succeeded(graded):
    run, _, out, proof, uid_folder = next(iter(graded.values()))
    succeeded = sorted(p.name for p in proof.iterdir())
    if not ROOT_ONLY:
        # Without root the grader cannot run student code as another user,
        # so the attempts may succeed; it must then say so plainly.
        said = run.stdout + run.stderr + (out / "report.txt").read_text()
        assert "not running as root" in said, (
            "the grader runs without root, so student code runs as the "
            "grader's own user, and it did not warn about it:\n" + said)
        return
    assert not succeeded, (
        f"hostile programs managed: {succeeded} (see tests/grader/"
        f"test_hostile.py for what each proof file means)")
    time.sleep(0.5)
    used = {int(f.read_text()) for f in uid_folder.iterdir()
            if f.read_text().strip().isdigit()}
    assert used and 0 not in used, f"the programs ran as uids {used}"
    # SIGKILL takes effect when a process next runs: on a busy machine a
    # process killed by the grader may take a moment to be gone.
    deadline = time.monotonic() + 10
    while sandbox_processes(used) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sandbox_processes(used)
    assert not left, (f"sandbox processes still running 10 s after "
                      f"grading: {left}")
    locks = Path("/tmp/kit-grade-uids")
    assert not locks.exists() or stat.S_IMODE(locks.stat().st_mode) == 0o700
