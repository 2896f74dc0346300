"""chaos: the check "survives short reads/writes and EINTR".

    ran = chaos.run(kit, workdir, box, rubric, targets)   # beside the main run
    items = chaos.score(rubric, track, targets, ran, baseline)

Runs a selection of the conformance tests again with the chaos shim
preloaded (chaos/README.md): every socket read and write moves 1 to 7
bytes, blocking calls fail with EINTR where the kernel could make them,
non-blocking ones with EAGAIN. A program earns the check's points when
every selected test that it passed without the shim also passes with it
(a test it failed anyway has already cost its points). The feedback names
the test, the seed, and the last system calls the shim cut short or
interrupted, and says how to get the same faults again.

The check's settings are in the rubric's [checks.chaos] table: besides
enabled, points, visibility and select (a pytest -k expression), it reads
  tracks  the tracks graded with it (default: the kit's three C tracks)
  exe     true: also for `grade --exe` (any language whose program calls
          libc's socket functions; off by default)
  seed    the shim's seed: the same for every student, so every student
          meets the same faults (default 1)
"""

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from . import suite
from .score import Item, shorten

C_TRACKS = ("blocking-threads", "manual-statemachine", "async-futures")
TITLE = "survives short reads/writes and EINTR"
SHOWN_FAULTS = 6


def settings(rubric):
    """The rubric's [checks.chaos] table ({} when it has none)."""
    try:
        with open(rubric.path, "rb") as f:
            return tomllib.load(f).get("checks", {}).get("chaos", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def wanted(rubric, track):
    """Whether the check applies to this track ("exe" for --exe): only a
    rubric with a [checks.chaos] table, enabled, asks for it."""
    table = settings(rubric)
    check = rubric.checks.get("chaos")
    if not table or check is None or not check.enabled:
        return False
    if track == "exe":
        return bool(table.get("exe", False))
    return track in table.get("tracks", C_TRACKS)


def _shim(kit, folder):
    """Compiles the shim from the kit's chaos/shim.c into folder, readable
    by the sandbox's user."""
    folder.mkdir(mode=0o755, exist_ok=True)
    os.chmod(folder, 0o755)
    out = folder / "libchaos.so"
    cc = shutil.which("cc") or "cc"
    subprocess.run([cc, "-std=gnu11", "-O2", "-fPIC", "-shared", "-pthread",
                    "-o", str(out), str(Path(kit) / "chaos" / "shim.c"),
                    "-ldl"], check=True, capture_output=True, text=True)
    os.chmod(out, 0o755)
    return out


def _logs_of(logs, nodeid):
    """The last faults logged during the test nodeid."""
    for folder in sorted(logs.iterdir()) if logs.exists() else []:
        test = folder / "TEST"
        if test.exists() and test.read_text() == nodeid:
            lines = []
            for log in sorted(folder.glob("chaos-*.log")):
                text = log.read_text(errors="replace").splitlines()
                lines += [t.split(": ", 1)[-1] for t in text if t]
            return lines[-SHOWN_FAULTS:]
    return []


def _feedback(failed, logs, seed, contract):
    """What a student reads: the first failure and the faults before it."""
    rec = failed[0]
    test = rec.get("test") or rec["nodeid"].split("::")[-1]
    text = [f"{len(failed)} test(s) that pass without the chaos shim fail "
            f"with it (seed {seed}). The first, {test}:",
            shorten(rec.get("message", ""), 8)]
    faults = _logs_of(logs, rec["nodeid"])
    if faults:
        text.append("the last system calls the shim cut short or "
                    "interrupted:")
        text += [f"    {f}" for f in faults]
    text.append("A correct program loops until send/write has taken every "
                "byte, keeps reading until a whole line is in, and retries "
                "a call that failed with EINTR (or EAGAIN on a non-blocking "
                "socket).")
    suite_name = "test_" + contract.replace("-", "_") + ".py"
    text.append(f"Same faults again: python3 -m pytest "
                f"tests/conformance/{suite_name} -k {test} --chaos "
                f"--chaos-seed {seed} (with --exe or --track as usual)")
    return "\n".join(text)


def run(kit, workdir, box, rubric, targets, exe_name=None):
    """Runs the selected tests of targets (suite.Target) under the shim, in
    a sandbox of its own beside the main run. Returns (records, logs, seed):
    what score() needs."""
    check_ = rubric.checks["chaos"]
    seed = int(settings(rubric).get("seed", 1))
    workdir = Path(workdir)
    shim = _shim(kit, workdir / "chaos")
    logs = workdir / "chaos-logs"
    logs.mkdir(mode=0o777, exist_ok=True)
    os.chmod(logs, 0o777)
    env = {"PYTEST_ADDOPTS": f"--chaos --chaos-seed {seed}",
           "KIT_CHAOS_SHIM": str(shim), "KIT_CHAOS_LOGS": str(logs)}
    other = box.variant("chaos")
    try:
        result = suite.run_tests(kit, workdir, suite.Run(
            "chaos", targets, other, select=check_.select,
            exe_name=exe_name, env=env, nice=10,
            show_ro=[shim.parent], show_rw=[logs]))
    finally:
        other.close()
    return result.records, logs, seed


def score(rubric, track, targets, ran, baseline, unbuilt=()):
    """The check's items, one per program.

    ran: what run() returned (None when it could not run); baseline: the
    records of the run without the shim (a test that failed there does not
    count here); unbuilt: the programs that did not build (zero points, so
    every student has the same maximum)."""
    check_ = rubric.checks["chaos"]
    items = [Item(f"{track}/{p}", "chaos", TITLE, 0.0,
                  check_.points * rubric.weight(f"{track}/{p}"),
                  check_.visibility, "does not build.") for p in unbuilt]
    records, logs, seed = ran if ran else ([], None, None)
    failed_before = {r["nodeid"] for r in baseline
                     if r.get("outcome") != "passed"}
    for target in targets:
        pid = f"{track}/{target.program}"
        pts = check_.points * rubric.weight(pid)
        mine = [r for r in records if r.get("program") == target.program and
                r.get("track", track) == track]
        failed = [r for r in mine if r.get("outcome") == "failed" and
                  r["nodeid"] not in failed_before]
        if not mine:
            text, got = "no test ran under the chaos shim.", 0.0
        elif failed:
            text, got = _feedback(failed, logs, seed, target.contract), 0.0
        else:
            text, got = (f"{len(mine)} tests passed with the chaos shim "
                         f"(seed {seed})."), pts
        items.append(Item(pid, "chaos", TITLE, got, pts,
                          check_.visibility, text))
    return items
