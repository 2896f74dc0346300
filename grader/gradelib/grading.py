"""grading: one submission (or one executable) from start to report.

    outcome = grade_track(submission, "blocking-threads", rubric)
    outcome = grade_exe(path, "fetch-line", rubric, name="fetch-line")
    outcome = grade_exe(folder, "fetch-line", rubric, entry="main.py")
    reports.write_all(outcome, out_folder)

Both go through one lifecycle (Job): everything happens in a fresh
temporary folder that is removed at the end (keep=True keeps it, for
debugging). A problem with the submission or its build never raises: it
becomes points lost with an explanation. A stop of the grader (a signal)
raises stop.Stopped, after the same cleanup.
"""

import atexit
import concurrent.futures
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import tracks

from . import build as build_mod
from . import chaos as chaos_mod
from . import sandbox as sandbox_mod
from . import stop
from . import suite
from .rubric import show_item
from .score import Item, score_program, shorten, tail, totals, \
    unbuilt_program

KIT = build_mod.KIT
SAN_PATTERN = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
               "runtime error:", "WARNING: ThreadSanitizer",
               "ERROR: ThreadSanitizer", "ERROR: UndefinedBehaviorSanitizer")
SAN_LABEL = {"address": "ASan+UBSan", "thread": "ThreadSanitizer"}


@dataclass
class Outcome:
    student: str
    track: str
    what: str
    items: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    build_log: str = ""
    logs: dict = field(default_factory=dict)
    error: str = ""
    timings: dict = field(default_factory=dict)   # phase: seconds

    @property
    def score(self):
        return totals(self.items)[0]

    @property
    def max_score(self):
        return totals(self.items)[1]

    def program_scores(self):
        """{program id: (score, max)}."""
        out = {}
        for it in self.items:
            s, m = out.get(it.program, (0.0, 0.0))
            out[it.program] = (round(s + it.points, 2),
                               round(m + it.max_points, 2))
        return out

    def summary_text(self):
        lines = [f"{self.score:g} / {self.max_score:g} points ({self.what})"]
        lines += [f"note: {n}" for n in self.notes]
        for program, (s, m) in self.program_scores().items():
            lines.append(f"  {program}: {s:g} / {m:g}")
        return "\n".join(lines)


def listed(track, program=None, kit=KIT):
    """[(program, contract)] of tracks.list for a track (and program)."""
    return [(e.program, e.contract) for e in
            tracks.in_track(track, program, tracks.load(root=kit))]


def _workdir():
    folder = Path(tempfile.mkdtemp(prefix="kit-grade-"))
    os.chmod(folder, 0o711)
    return folder


_HELPER_LOCK = threading.Lock()
_HELPER = {}


def _helper():
    """sandbox-exec, compiled once per grader process."""
    with _HELPER_LOCK:
        if "path" not in _HELPER:
            folder = Path(tempfile.mkdtemp(prefix="kit-grade-helper-"))
            os.chmod(folder, 0o755)
            atexit.register(shutil.rmtree, folder, True)
            _HELPER["path"] = sandbox_mod.compile_helper(folder)
        return _HELPER["path"]


def _hide(kit):
    """The tests and the grader in the copy are for root's eyes only."""
    for name in ("tests", "grader"):
        if (kit / name).exists():
            os.chmod(kit / name, 0o700)


class Job:
    """The lifecycle every grading shares, as a context manager:

        with Job(outcome, rubric, keep) as job:
            job.start()          # job.kit, job.box
            ...

    a fresh work folder; then (start) a copy of the kit with its tests
    closed to student code, and a sandbox; at the end, whatever happened,
    the sandbox's processes killed and its uid given back, the time taken,
    and the work folder removed (or kept, and said so). A stop of the
    grader (stop.Stopped) goes through all of that too."""

    def __init__(self, outcome, rubric, keep=False):
        self.outcome = outcome
        self.rubric = rubric
        self.keep = keep
        self.workdir = self.kit = self.box = None

    def __enter__(self):
        stop.check()
        self.t0 = time.monotonic()
        self.workdir = _workdir()
        return self

    def start(self):
        self.kit = build_mod.copy_kit(self.workdir)
        _hide(self.kit)
        self.box = sandbox_mod.Sandbox(self.workdir, self.rubric.limits,
                                       _helper())
        self.outcome.notes += self.box.warnings()

    def __exit__(self, kind, value, tb):
        if self.box:
            self.box.close()
        self.outcome.seconds = time.monotonic() - self.t0
        _cleanup(self.workdir, self.keep, self.outcome)
        return False


def _fail_all(outcome, rubric, programs, why):
    """Every program's groups at 0 points, `why` as the feedback."""
    outcome.error = why
    for pid, contract in programs:
        outcome.items += unbuilt_program(rubric, pid, contract, why,
                                         rubric.weight(pid))
    return outcome


def exe_target(exe, entry, contract):
    """The suite.Target for --exe: a file, or a folder and the entry point
    inside it. Raises SubmissionError saying what is wrong."""
    exe = Path(exe).resolve()
    if exe.is_dir():
        if not entry:
            raise build_mod.SubmissionError(
                f"{exe} is a folder: name the file inside it to run "
                f"(--run ENTRY)")
        build_mod.check_program_folder(exe)
        path = (exe / entry).resolve()
        if exe not in path.parents:
            raise build_mod.SubmissionError(
                f"--run {entry}: not a file inside {exe}")
        folder = exe
    else:
        if entry:
            raise build_mod.SubmissionError(
                f"--run is for a program that is a folder; {exe} is not one")
        path, folder = exe, None
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise build_mod.SubmissionError(f"not an executable file: {path}")
    return suite.Target("exe", exe.name, contract, path, folder)


def grade_exe(exe, contract, rubric, name=None, keep=False, select="",
              student=None, entry=None):
    """Grades any program against one contract's conformance suite: an
    executable file, or a folder with `entry` (a path inside it) to run."""
    exe = Path(exe).resolve()
    run_as = f" (running {entry})" if entry else ""
    outcome = Outcome(student or exe.name, "exe",
                      f"{exe}{run_as} against the {contract} contract")
    pid = f"exe/{exe.name}"
    with Job(outcome, rubric, keep) as job:
        try:
            target = exe_target(exe, entry, contract)
        except build_mod.SubmissionError as exc:
            outcome.notes.append(str(exc))
            return _fail_all(outcome, rubric, [(pid, contract)], str(exc))
        job.start()
        result = suite.run_tests(job.kit, job.workdir, suite.Run(
            "main", [target], job.box, select=select,
            exe_name=name or contract, shards=MAIN_SHARDS))
        outcome.logs["main"] = result.log
        outcome.timings["tests"] = result.seconds
        mine = [r for r in result.records if r.get("program")]
        outcome.items, unmatched = score_program(rubric, pid, contract, mine)
        if chaos_mod.wanted(rubric, "exe"):  # off unless the rubric says
            ran = chaos_mod.run(job.kit, job.workdir, job.box, rubric,
                                [target], exe_name=name or contract)
            outcome.items += chaos_mod.score(rubric, "exe", [target], ran,
                                             mine)
        _note_unmatched(outcome, unmatched)
        if not mine:
            outcome.notes.append("no test ran: see pytest-main.log\n" +
                                 tail(result.log, 15))
    return outcome


def _note_unmatched(outcome, unmatched):
    if unmatched:
        names = sorted({r.get("test") for r in unmatched})
        outcome.notes.append(f"tests in no rubric group (not counted): "
                             f"{', '.join(names)}")


def _cleanup(workdir, keep, outcome):
    if keep:
        outcome.notes.append(f"work folder kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def grade_track(submission, track, rubric, program=None, keep=False,
                checks=True, student=None, select=""):
    """Grades a student's version of a track (folder, .zip, .tar.gz)."""
    submission = Path(submission)
    student = student or _student_name(submission)
    outcome = Outcome(student, track, f"{submission} as {track}")
    entries = listed(track, program)
    if not entries:
        raise build_mod.SubmissionError(
            f"tracks.list lists no program {program or ''} in track "
            f"{track!r}")
    with Job(outcome, rubric, keep) as job:
        job.start()
        try:
            _lay_over(job, submission, track)
        except (build_mod.SubmissionError, OSError) as exc:
            outcome.notes.append(f"the submission could not be read: {exc}")
            return _fail_all(outcome, rubric, [
                (f"{track}/{p}", c) for p, c in entries], str(exc))
        mark = time.monotonic()
        builds = build_mod.build_track(job.kit, track,
                                       [p for p, _ in entries], job.box)
        outcome.timings["build"] = time.monotonic() - mark
        outcome.build_log = "\n".join(
            f"== make {track}/{p}\n{b.output}" for p, b in builds.items())
        mark = time.monotonic()
        records, check_items = _tests_and_checks(job, track, entries, builds,
                                                 checks, select)
        outcome.timings["tests and checks"] = time.monotonic() - mark
        outcome.items = _ordered(
            _scored(outcome, rubric, track, entries, builds, records) +
            check_items, entries, track)
    return outcome


def _lay_over(job, submission, track):
    sub = job.workdir / "submission"
    build_mod.unpack(submission, sub)
    source = build_mod.find_track(sub, track)
    job.outcome.notes += build_mod.lay_over(
        job.kit, track, source, [p for p, _ in listed(track)])


def _targets(track, entries, builds):
    return [suite.Target(track, p, c, builds[p].path) for p, c in entries
            if p in builds and builds[p].ok]


def _scored(outcome, rubric, track, entries, builds, records):
    """The conformance groups' items of each program."""
    items = []
    for p, contract in entries:
        pid = f"{track}/{p}"
        weight = rubric.weight(pid)
        if not builds[p].ok:
            items += unbuilt_program(rubric, pid, contract, builds[p].output,
                                     weight)
            continue
        mine = [r for r in records if r.get("track") == track
                and r.get("program") == p]
        got, unmatched = score_program(rubric, pid, contract, mine, weight)
        _note_unmatched(outcome, unmatched)
        if not mine:
            outcome.notes.append(f"{pid}: no test ran (see "
                                 f"pytest-main.log)")
        items += got
    return items


# Each program's suite is split over this many pytest processes side by
# side: its tests mostly wait (on deadlines, ticks, trickling peers), so two
# halves take about half as long, even on two cores.
MAIN_SHARDS = 2

# The checks look only at findings (a sanitizer report, a forbidden system
# call), never at whether a test passed, so their runs do not need the
# machine's full attention: they run beside the main run at this lower
# priority, and the main run's timing is what it would be alone.
CHECK_NICE = 10


def _tests_and_checks(job, track, entries, builds, checks, select):
    """The main run and every check, side by side. Returns (the main run's
    records, the checks' items)."""
    targets = _targets(track, entries, builds)
    jobs = {}
    chaos = checks and chaos_mod.wanted(job.rubric, track)
    chaos_ran = None
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        if targets:
            jobs["main"] = pool.submit(suite.run_tests, job.kit, job.workdir,
                                       suite.Run("main", targets, job.box,
                                                 select=select,
                                                 shards=MAIN_SHARDS))
        if checks:
            for name, san in _sanitizers(job.rubric, track):
                jobs[name] = pool.submit(_sanitizer_check, job, track,
                                         entries, builds, name, san)
            if job.rubric.checks["model"].enabled:
                jobs["model"] = pool.submit(_model_check, job, track,
                                            entries, builds)
        if chaos and targets:
            jobs["chaos"] = pool.submit(chaos_mod.run, job.kit, job.workdir,
                                        job.box, job.rubric, targets)
        records, items = [], []
        if checks:
            items += _warnings_check(job.rubric, track, entries, builds)
        for name, future in jobs.items():
            try:
                res = future.result()
            except stop.Stopped:
                raise
            except Exception as exc:  # a check must never crash the grader
                job.outcome.notes.append(f"the {name} check failed to run: "
                                         f"{exc!r}")
                continue
            if name == "main":
                records = res.records
                job.outcome.logs["main"] = res.log
                job.outcome.timings["tests"] = res.seconds
            elif name == "chaos":
                chaos_ran = res  # scored against the main run, below
            else:
                new_items, log = res
                items += new_items
                job.outcome.logs[name] = log
    if chaos:
        items += chaos_mod.score(job.rubric, track, targets, chaos_ran,
                                 records, unbuilt=[p for p, _ in entries
                                                   if not builds[p].ok])
    return records, items


def _ordered(items, entries, track):
    order = {f"{track}/{p}": n for n, (p, _) in enumerate(entries)}
    return sorted(items, key=lambda it: order.get(it.program, 99))


def _student_name(path):
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _sanitizers(rubric, track):
    """[(check name, sanitizer)] of the enabled sanitizer checks (TSan for
    the threads track only)."""
    out = []
    if rubric.checks["sanitizers"].enabled:
        out.append(("sanitizers", "address"))
    if rubric.checks["tsan"].enabled and track == "blocking-threads":
        out.append(("tsan", "thread"))
    return out


def _warnings_check(rubric, track, entries, builds):
    check = rubric.checks["warnings"]
    items = []
    if not check.enabled:
        return items
    for p, _ in entries:
        b = builds[p]
        pid = f"{track}/{p}"
        pts = check.points * rubric.weight(pid)
        if b.ok and not b.warnings:
            items.append(Item(pid, "build", "no compiler warning", pts,
                              pts, check.visibility,
                              "builds with -Werror."))
        else:
            text = ("builds only without -Werror; the compiler said:\n"
                    if b.ok else "does not build:\n") + tail(b.output, 40)
            items.append(Item(pid, "build", "no compiler warning", 0.0,
                              pts, check.visibility, text))
    return items


def _sanitizer_check(job, track, entries, builds, name, san):
    """Builds the programs with the sanitizer and runs the check's tests
    on them, in a sandbox of its own. Returns (items, log)."""
    ok = [p for p, _ in entries if builds[p].ok]
    if not ok:
        # Nothing to rebuild: the check still counts, at zero, so every
        # student has the same maximum.
        return _unbuilt_check(job.rubric, track, entries, name, san), ""
    box = job.box.variant(f"build-{san}")
    try:
        sbuilds = build_mod.build_track(
            job.kit, track, ok, box, san=san, nice=CHECK_NICE,
            lenient=any(builds[p].warnings for p in ok))
    finally:
        box.close()
    return _sanitizer_run(job, track, entries, sbuilds, name, san)


def _unbuilt_check(rubric, track, entries, name, san):
    """Zero-point items of a sanitizer check for programs not built."""
    check = rubric.checks[name]
    label = SAN_LABEL[san]
    return [Item(f"{track}/{p}", name, f"{label}: no finding", 0.0,
                 check.points * rubric.weight(f"{track}/{p}"),
                 check.visibility, "does not build.") for p, _ in entries]


def _san_findings(logs):
    """{nodeid: first report text} from the per-test sanitizer logs."""
    found = {}
    if not logs.exists():
        return found
    for folder in sorted(logs.iterdir()):
        test_file = folder / "TEST"
        if not test_file.exists():
            continue
        nodeid = test_file.read_text()
        for report in sorted(folder.glob("san*")):
            text = report.read_text(errors="replace")
            if any(p in text for p in SAN_PATTERN):
                found.setdefault(nodeid, text)
    return found


def _sanitizer_run(job, track, entries, sbuilds, name, san):
    """The check's tests on the sanitizer build; one item per program."""
    check = job.rubric.checks[name]
    targets = _targets(track, entries, sbuilds)
    logs = job.workdir / f"san-{san}"
    logs.mkdir(mode=0o777)
    os.chmod(logs, 0o777)
    log = ""
    if targets:
        log = suite.run_tests(job.kit, job.workdir, suite.Run(
            san, targets, job.box, select=check.select, memory=False,
            san_logs=logs, nice=CHECK_NICE)).log
    findings = _san_findings(logs)
    items = []
    for p, _ in entries:
        pid = f"{track}/{p}"
        pts = check.points * job.rubric.weight(pid)
        items.append(Item(pid, name, f"{SAN_LABEL[san]}: no finding", 0.0,
                          pts, check.visibility))
        items[-1].output = _sanitizer_verdict(items[-1], sbuilds.get(p),
                                              findings, san)
    return items, log


def _sanitizer_verdict(item, sbuild, findings, san):
    """Gives `item` its points when the program was rebuilt and had no
    finding; returns the feedback."""
    label = SAN_LABEL[san]
    if sbuild is None:
        # Not rebuilt because the main build failed: the check still
        # counts, at zero, so every student is graded out of the same
        # maximum.
        return "does not build."
    if not sbuild.ok:
        return f"the {label} build failed:\n" + tail(sbuild.output, 40)
    pid = item.program
    mine = {k: v for k, v in findings.items() if f"[{pid}" in k
            or f"-{pid}" in k}
    if not mine:
        item.points = item.max_points
        return f"no {label} report while the tests ran."
    nodeid, text = next(iter(mine.items()))
    return (f"{label} reported a problem in {len(mine)} test(s); the first, "
            f"in {nodeid.split('::')[-1]}:\n" + shorten(text, 40))


def _model_check(job, track, entries, builds):
    """tests/tracks/test_models.py on the main build. Returns (items,
    log)."""
    check = job.rubric.checks["model"]
    test_file = job.kit / "tests" / "tracks" / "test_models.py"
    if not test_file.exists():
        return [], "no tests/tracks/test_models.py in the kit"
    func = ("test_threads_track_never_multiplexes"
            if track == "blocking-threads"
            else "test_event_loop_tracks_create_no_thread")
    targets = _targets(track, entries, builds)
    nodeids = [f"{test_file}::{func}[{t.id}]" for t in targets]
    log, records = "", []
    if targets:
        res = suite.run_tests(job.kit, job.workdir, suite.Run(
            "model", targets, job.box, files=nodeids, nice=CHECK_NICE))
        log, records = res.log, res.records
    items = []
    for p, _ in entries:
        pid = f"{track}/{p}"
        pts = check.points * job.rubric.weight(pid)
        title = "concurrent in the track's own way"
        rec = next((r for r in records
                    if r["nodeid"].endswith(f"[{pid}]")), None)
        if not builds[p].ok:
            got, text = 0.0, "does not build."
        elif rec is None:
            got, text = 0.0, "the check did not run:\n" + tail(log, 20)
        elif rec["outcome"] == "passed":
            got, text = pts, "checked with strace."
        else:
            got, text = 0.0, shorten(rec.get("message", ""), 20)
        items.append(Item(pid, "model", title, got, pts, check.visibility,
                          text))
    return items, log


__all__ = ["Outcome", "Job", "exe_target", "grade_exe", "grade_track",
           "listed", "show_item"]
