"""suite: runs conformance tests against sandboxed programs.

    run = Run("main", targets, sandbox)
    result = run_tests(kit, workdir, run)     # records, log, seconds

A Run names what to test: its targets (the programs, each a Target) and
how (a pytest -k selection, explicit test files, the sanitizer logs...).
run_tests splits it into parts, one pytest process per program (or per
shard of a program's suite), and runs the parts side by side: the tests
mostly wait on deadlines and ticks, so a submission's suites take about as
long as its longest part.
Each part has a sandbox of its own (its own uid: a part's sweep after each
test must not kill another part's program).

Each executable is reached through a wrapper script (sandbox.wrap) in
workdir/run/PART/TRACK/PROGRAM, and the tests find it there through
KIT_BUILD. The result holds the plugin's records (one dict per test: test,
track, program, contract, outcome, message, details, duration) and pytest's
own output.
"""

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import tracks

from . import sandbox as sandbox_mod
from . import stop

GRADER = Path(__file__).resolve().parents[1]
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable


@dataclass(frozen=True)
class Target:
    """A program under test. track, program, contract: as in tracks.list
    ("exe" and a name for --exe); exe: the executable; folder: for a
    program that is a folder (--exe DIR --run ENTRY), that folder, copied
    whole, exe being the entry point inside it."""
    track: str
    program: str
    contract: str
    exe: Path
    folder: Path = None

    @property
    def id(self):
        return f"{self.track}/{self.program}"


@dataclass
class Run:
    """One run of tests in the sandbox.

    name: names its folders and logs ("main", "address", "model"...).
    select: a pytest -k expression. files: explicit test files or node ids
    instead of the targets' suites (then the whole run is one part).
    memory: apply the address-space limit (not under the sanitizers).
    san_logs: a folder for per-test sanitizer reports. exe_name: --name
    for --exe. nice: the checks run at a lower priority than the main
    run, whose timing counts. shards: split each program's suite over this
    many pytest processes side by side (every N-th test each). env: more
    environment for pytest (and so for the programs). show_ro, show_rw:
    more of the grader's paths the programs see in their private file
    system (a library they preload, a folder they log to)."""
    name: str
    targets: list
    sandbox: object
    select: str = ""
    files: list = None
    memory: bool = True
    san_logs: Path = None
    exe_name: str = None
    nice: int = 0
    shards: int = 1
    env: dict = field(default_factory=dict)
    show_ro: list = field(default_factory=list)
    show_rw: list = field(default_factory=list)


@dataclass
class Part:
    """One pytest process of a Run: its label (names its folders), its
    targets, its explicit files (or None: the targets' suites) and its
    shard ("K/N", or None for the whole suite)."""
    label: str
    targets: list
    files: list = None
    shard: str = None


@dataclass
class Result:
    records: list = field(default_factory=list)
    log: str = ""
    seconds: float = 0.0


def suite_file(kit, contract):
    return tracks.suite_file(contract, root=kit)


def run_tests(kit, workdir, run):
    """Runs `run`, its parts side by side; returns their merged Result.
    Raises stop.Stopped when the grader is told to stop meanwhile."""
    t0 = time.monotonic()
    _install(Path(workdir), run)
    parts = _parts(run)
    with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:
        results = list(pool.map(
            lambda part: _run_part(Path(kit), Path(workdir), run, part),
            parts))
    stop.check()
    merged = Result(seconds=time.monotonic() - t0)
    for part, res in zip(parts, results):
        merged.records += res.records
        merged.log += (f"==== {part.label}\n" if len(parts) > 1
                       else "") + res.log
    return merged


def _parts(run):
    """[Part]: one per target and shard of its suite, or the whole run
    when it names its files."""
    if run.files is not None:
        return [Part(run.name, run.targets, list(run.files))]
    parts = []
    for n, target in enumerate(run.targets):
        for k in range(run.shards):
            shard = f"{k}/{run.shards}" if run.shards > 1 else None
            parts.append(Part(f"{run.name}-{n}-{k}", [target], None, shard))
    return parts


def _copies(workdir, run):
    return workdir / "exe" / run.name


def _install(workdir, run):
    """Root-owned copies of the targets in workdir/exe/RUN: the student's
    code cannot change the file that runs in the next test."""
    copies = _copies(workdir, run)
    for target in run.targets:
        dest = copies / target.track / target.program
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if target.folder:
            shutil.copytree(target.folder, dest, symlinks=True)
        else:
            shutil.copyfile(target.exe, dest)
        _open_up(dest)
    for folder in (workdir / "exe", copies, *copies.iterdir()):
        os.chmod(folder, 0o755)


def _open_up(path):
    """Folders 0755, files 0755 or 0644: readable by the sandbox uid,
    writable by no one but root."""
    paths = [path] + (list(path.rglob("*")) if path.is_dir() else [])
    for p in paths:
        if p.is_symlink():
            continue
        if p.is_dir() or os.stat(p).st_mode & 0o100 or p == path:
            os.chmod(p, 0o755)
        else:
            os.chmod(p, 0o644)


def _entry(workdir, run, target):
    """The path of a target's copy that the wrapper execs."""
    dest = _copies(workdir, run) / target.track / target.program
    if target.folder:
        return dest / Path(target.exe).relative_to(target.folder)
    return dest


def _run_part(kit, workdir, run, part):
    label = part.label
    box = run.sandbox.variant(label)
    try:
        basetemp = workdir / "tmp" / label
        basetemp.parent.mkdir(exist_ok=True)
        os.chmod(basetemp.parent, 0o711)
        basetemp.mkdir(exist_ok=True)
        os.chmod(basetemp, 0o711)
        run_dir = workdir / "run" / label
        show_rw = [basetemp, *run.show_rw] + (
            [run.san_logs] if run.san_logs else [])
        wrappers = [box.wrap(_entry(workdir, run, t),
                             run_dir / t.track / t.program,
                             memory=run.memory,
                             show_ro=[_copies(workdir, run), *run.show_ro],
                             show_rw=show_rw) for t in part.targets]
        argv = _pytest_argv(kit, run, part, wrappers, basetemp, box.limits)
        results = workdir / "results"
        results.mkdir(exist_ok=True, mode=0o700)
        os.chmod(results, 0o700)
        record = results / f"{label}.jsonl"
        record.unlink(missing_ok=True)
        env = _environment(run, box, run_dir, record)
        if part.shard:
            env["GRADER_SHARD"] = part.shard
        t0 = time.monotonic()
        log = _execute(argv, env, kit, results / f"{label}.log", box)
        return Result(_records(record), log, time.monotonic() - t0)
    finally:
        box.close()


def _pytest_argv(kit, run, part, wrappers, basetemp, limits):
    """pytest's command line for one part."""
    targets, files = part.targets, part.files
    if files is None:
        files = [str(suite_file(kit, t.contract)) for t in targets]
    argv = [PYTHON, "-m", "pytest", *files, "-p", "no:cacheprovider",
            "-p", "gradelib.plugin", "-q", "--tb=short", "-rN",
            "-o", f"timeout={limits['test_seconds']}",
            f"--basetemp={basetemp}"]
    if run.select:
        argv += ["-k", run.select]
    if targets and targets[0].track == "exe":
        argv += ["--exe", str(wrappers[0]), "--contract",
                 targets[0].contract, "--name",
                 run.exe_name or targets[0].contract]
    elif run.files is None:
        for t in targets:
            argv += ["--track", t.track, "--program", t.program]
    if run.nice:
        argv = ["nice", "-n", str(run.nice)] + argv
    return sandbox_mod.network_prefix()[0] + argv


def _environment(run, box, run_dir, record):
    env = dict(os.environ)
    for var in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GRADER_SAN_LOGS",
                "GRADER_SANDBOX_UID", "GRADER_SHARD"):
        env.pop(var, None)
    env.update({
        "PYTHONPATH": str(GRADER),
        "PYTHONDONTWRITEBYTECODE": "1",
        "KIT_BUILD": str(run_dir),
        "GRADER_RECORD": str(record),
    })
    if box.uid is not None:
        env["GRADER_SANDBOX_UID"] = str(box.uid)
    if run.san_logs:
        env["GRADER_SAN_LOGS"] = str(run.san_logs)
    env.update(run.env)
    return env


def _execute(argv, env, kit, log_path, box):
    """Runs pytest in a session of its own, within the run's wall limit;
    kills what is left of it; returns its output (the last 200 kB)."""
    limit = box.limits["suite_seconds"]
    with open(log_path, "w+b") as log:
        proc = subprocess.Popen(argv, cwd=kit, env=env, stdout=log,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
        with stop.watching(proc.pid):
            try:
                proc.wait(timeout=limit)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        box.sweep()
        log.seek(0)
        output = log.read()[-200000:].decode("utf-8", "replace")
    if timed_out:
        output += (f"\n(the test run took more than {limit} s and was "
                   f"stopped)")
    return output


def _records(path):
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


__all__ = ["Target", "Run", "Part", "Result", "run_tests", "suite_file"]
