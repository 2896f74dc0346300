"""suite: runs conformance tests against sandboxed programs.

    records, log = run_tests(kit, workdir, sandbox, programs, name="main")

programs: [(track, program, contract, real_executable)], or for --exe one
entry ("exe", NAME, contract, path). Each executable is reached through a
wrapper script (sandbox.wrap) in workdir/run/NAME/TRACK/PROGRAM, and the
tests find them there through KIT_BUILD. Returns the plugin's records
(one dict per test: test, track, program, contract, outcome, message,
details, duration) and pytest's own output.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import tracks

from . import sandbox as sandbox_mod

GRADER = Path(__file__).resolve().parents[1]
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable


def suite_file(kit, contract):
    return tracks.suite_file(contract, root=kit)


def run_tests(kit, workdir, sandbox, programs, name="main", select="",
              memory=True, san_logs=None, tests=None, exe_name=None,
              extra_env=None, files=None):
    """Runs the conformance suites of the programs' contracts.

    select: a pytest -k expression; tests: explicit test names (a list of
    function names) instead of whole suites; exe_name: --name for --exe.
    Returns (records, pytest output text, seconds)."""
    workdir = Path(workdir)
    run_dir = workdir / "run" / name
    copies = workdir / "exe" / name
    results = workdir / "results"
    results.mkdir(exist_ok=True, mode=0o700)
    os.chmod(results, 0o700)
    record = results / f"{name}.jsonl"
    record.unlink(missing_ok=True)
    contracts = []
    wrappers = []
    for track, program, contract, real in programs:
        # A root-owned copy: the student's code cannot change the file that
        # runs in the next test.
        copy = copies / track / program
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, copy)
        os.chmod(copy, 0o755)
        for folder in (workdir / "exe", copies, copy.parent):
            os.chmod(folder, 0o755)
        wrappers.append(sandbox.wrap(copy, run_dir / track / program,
                                     memory=memory))
        if contract not in contracts:
            contracts.append(contract)
    if files is None:
        files = [str(suite_file(kit, c)) for c in contracts]
    elif files:
        contracts = []
    if tests:
        files = [f"{f}::{t}" for f in files for t in tests
                 if t.startswith("test_")]
    basetemp = workdir / "tmp" / name
    basetemp.parent.mkdir(exist_ok=True)
    os.chmod(basetemp.parent, 0o711)
    argv = [PYTHON, "-m", "pytest", *files, "-p", "no:cacheprovider",
            "-p", "gradelib.plugin", "-q", "--tb=short", "-rN",
            "-o", f"timeout={sandbox.limits['test_seconds']}",
            f"--basetemp={basetemp}"]
    if select:
        argv += ["-k", select]
    if not contracts:
        pass                        # explicit test files: no selection
    elif programs and programs[0][0] == "exe":
        _, _, contract, _ = programs[0]
        argv += ["--exe", str(wrappers[0]), "--contract", contract,
                 "--name", exe_name or contract]
    else:
        for track in dict.fromkeys(p[0] for p in programs):
            argv += ["--track", track]
        for program in dict.fromkeys(p[1] for p in programs):
            argv += ["--program", program]
    prefix, _ = sandbox_mod.network_prefix()
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(GRADER),
        "PYTHONDONTWRITEBYTECODE": "1",
        "KIT_BUILD": str(run_dir),
        "GRADER_RECORD": str(record),
    })
    for var in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GRADER_SAN_LOGS",
                "GRADER_SANDBOX_UID"):
        env.pop(var, None)
    if sandbox.uid is not None:
        env["GRADER_SANDBOX_UID"] = str(sandbox.uid)
    if san_logs:
        env["GRADER_SAN_LOGS"] = str(san_logs)
    env.update(extra_env or {})
    t0 = time.monotonic()
    log_path = results / f"{name}.log"
    with open(log_path, "w+b") as log:
        proc = subprocess.Popen(prefix + argv, cwd=kit, env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            proc.wait(timeout=sandbox.limits["suite_seconds"])
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        sandbox.sweep()
        log.seek(0)
        output = log.read()[-200000:].decode("utf-8", "replace")
    if timed_out:
        output += (f"\n(the test run took more than "
                   f"{sandbox.limits['suite_seconds']} s and was stopped)")
    records = []
    if record.exists():
        for line in record.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records, output, time.monotonic() - t0
