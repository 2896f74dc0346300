"""grading: one submission (or one executable) from start to report.

    outcome = grade_track(submission, "blocking-threads", rubric)
    outcome = grade_exe(path, "fetch-line", rubric, name="fetch-line")
    reports.write_all(outcome, out_folder)

Everything happens in a fresh temporary folder that is removed at the end
(keep=True keeps it, for debugging). A problem with the submission or its
build never raises: it becomes points lost with an explanation.
"""

import atexit
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


def grade_exe(exe, contract, rubric, name=None, slot=0, keep=False,
              tests=None, select="", student=None):
    """Grades any executable against one contract's conformance suite."""
    t0 = time.monotonic()
    exe = Path(exe).resolve()
    outcome = Outcome(student or exe.name, "exe",
                      f"{exe} against the {contract} contract")
    workdir = _workdir()
    box = None
    try:
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            outcome.error = f"not an executable file: {exe}"
            outcome.notes.append(outcome.error)
            outcome.items = unbuilt_program(rubric, f"exe/{exe.name}",
                                            contract, outcome.error)
            return outcome
        kit = build_mod.copy_kit(workdir)
        _hide(kit)
        box = sandbox_mod.Sandbox(workdir, rubric.limits, slot, _helper())
        outcome.notes += box.warnings()
        records, log, _ = suite.run_tests(
            kit, workdir, box, [("exe", exe.name, contract, exe)],
            tests=tests, select=select, exe_name=name or contract)
        outcome.logs["main"] = log
        mine = [r for r in records if r.get("program")]
        items, unmatched = score_program(rubric, f"exe/{exe.name}",
                                         contract, mine)
        outcome.items = items + chaos_mod.check(  # off unless the rubric
            kit, workdir, box, rubric, "exe",     # says exe = true
            [("exe", exe.name, contract, exe)], mine,
            exe_name=name or contract)
        _note_unmatched(outcome, unmatched)
        if not mine:
            outcome.notes.append("no test ran: see pytest-main.log\n" +
                                 tail(log, 15))
        return outcome
    finally:
        if box:
            box.close()
        outcome.seconds = time.monotonic() - t0
        _cleanup(workdir, keep, outcome)


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


def grade_track(submission, track, rubric, program=None, slot=0, keep=False,
                checks=True, student=None, select=""):
    """Grades a student's version of a track (folder, .zip, .tar.gz)."""
    t0 = time.monotonic()
    submission = Path(submission)
    student = student or _student_name(submission)
    outcome = Outcome(student, track, f"{submission} as {track}")
    entries = listed(track, program)
    workdir = _workdir()
    box = None
    try:
        if not entries:
            raise build_mod.SubmissionError(
                f"tracks.list lists no program {program or ''} in track "
                f"{track!r}")
        kit = build_mod.copy_kit(workdir)
        _hide(kit)
        sub = workdir / "submission"
        try:
            build_mod.unpack(submission, sub)
            source = build_mod.find_track(sub, track)
            outcome.notes += build_mod.lay_over(
                kit, track, source, [p for p, _ in listed(track)])
        except (build_mod.SubmissionError, OSError) as exc:
            outcome.error = str(exc)
            outcome.notes.append(f"the submission could not be read: {exc}")
            for p, contract in entries:
                outcome.items += unbuilt_program(
                    rubric, f"{track}/{p}", contract, str(exc),
                    rubric.weight(f"{track}/{p}"))
            return outcome
        box = sandbox_mod.Sandbox(workdir, rubric.limits, slot, _helper())
        outcome.notes += box.warnings()
        programs = [p for p, _ in entries]
        mark = time.monotonic()
        builds = build_mod.build_track(kit, track, programs, box)
        outcome.timings["build"] = time.monotonic() - mark
        outcome.build_log = "\n".join(
            f"== make {track}/{p}\n{b.output}" for p, b in builds.items())
        built = [(track, p, c, builds[p].path) for p, c in entries
                 if builds[p].ok]
        san_builds = {}
        mark = time.monotonic()
        if checks and built:
            san_builds = _sanitizer_builds(kit, track, programs, builds, box,
                                           rubric)
        outcome.timings["sanitizer builds"] = time.monotonic() - mark
        records = []
        if built:
            records, log, seconds = suite.run_tests(kit, workdir, box, built,
                                                    select=select)
            outcome.logs["main"] = log
            outcome.timings["tests"] = seconds
        for p, contract in entries:
            pid = f"{track}/{p}"
            weight = rubric.weight(pid)
            b = builds[p]
            if not b.ok:
                outcome.items += unbuilt_program(rubric, pid, contract,
                                                 b.output, weight)
                continue
            mine = [r for r in records if r.get("track") == track
                    and r.get("program") == p]
            items, unmatched = score_program(rubric, pid, contract, mine,
                                             weight)
            _note_unmatched(outcome, unmatched)
            if not mine:
                outcome.notes.append(f"{pid}: no test ran (see "
                                     f"pytest-main.log)")
            outcome.items += items
        mark = time.monotonic()
        if checks:
            outcome.timings["checks"] = 0
            outcome.items += _checks(kit, workdir, box, rubric, track,
                                     entries, builds, san_builds, outcome)
            outcome.items += chaos_mod.check(
                kit, workdir, box, rubric, track, built, records,
                unbuilt=[p for p, _ in entries if not builds[p].ok])
            outcome.timings["checks"] = time.monotonic() - mark
        outcome.items = _ordered(outcome.items, entries, track)
        return outcome
    finally:
        if box:
            box.close()
        outcome.seconds = time.monotonic() - t0
        _cleanup(workdir, keep, outcome)


def _ordered(items, entries, track):
    order = {f"{track}/{p}": n for n, (p, _) in enumerate(entries)}
    return sorted(items, key=lambda it: order.get(it.program, 99))


def _student_name(path):
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _sanitizer_builds(kit, track, programs, builds, box, rubric):
    """{"address": {program: Build}, "thread": ...} for the enabled
    sanitizer checks (TSan for the threads track only)."""
    out = {}
    wanted = []
    if rubric.checks["sanitizers"].enabled:
        wanted.append("address")
    if rubric.checks["tsan"].enabled and track == "blocking-threads":
        wanted.append("thread")
    ok = [p for p in programs if builds[p].ok]
    lenient = any(builds[p].warnings for p in ok)
    for san in wanted:
        out[san] = build_mod.build_track(kit, track, ok, box, san=san,
                                         lenient=lenient)
    return out


def _checks(kit, workdir, box, rubric, track, entries, builds, san_builds,
            outcome):
    """The items of the checks beyond the conformance tests. The sanitizer
    and model runs look only at findings, not at test outcomes, so they run
    side by side."""
    items = []
    check = rubric.checks["warnings"]
    if check.enabled:
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
    jobs = []
    for san, name in (("address", "sanitizers"), ("thread", "tsan")):
        if san in san_builds:
            jobs.append((name, san))
        elif rubric.checks[name].enabled and (san == "address" or
                                              track == "blocking-threads"):
            # Nothing was rebuilt because nothing built: the check still
            # counts, at zero, so every student has the same maximum.
            items += _unbuilt_check(rubric, track, entries, name, san)
    results = {}

    def run(name, san, index):
        other = None
        try:
            other = box.variant(index)
            results[name] = _sanitizer_run(kit, workdir, other, rubric,
                                           track, entries, san_builds[san],
                                           name, san)
        except Exception as exc:  # a check must never crash the grader
            results[name] = exc
        finally:
            if other:
                other.close()

    def run_model():
        other = None
        try:
            other = box.variant(4)
            results["model"] = _model_run(kit, workdir, other, rubric,
                                          track, entries, builds)
        except Exception as exc:
            results["model"] = exc
        finally:
            if other:
                other.close()

    threads = [threading.Thread(target=run, args=(name, san, n + 1))
               for n, (name, san) in enumerate(jobs)]
    if rubric.checks["model"].enabled:
        threads.append(threading.Thread(target=run_model))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("sanitizers", "tsan", "model"):
        res = results.get(name)
        if isinstance(res, Exception):
            outcome.notes.append(f"the {name} check failed to run: {res!r}")
        elif res:
            new_items, log = res
            items += new_items
            outcome.logs[name] = log
    return items


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


def _sanitizer_run(kit, workdir, box, rubric, track, entries, sbuilds, name,
                   san):
    check = rubric.checks[name]
    label = SAN_LABEL[san]
    built = [(track, p, c, sbuilds[p].path) for p, c in entries
             if p in sbuilds and sbuilds[p].ok]
    logs = workdir / f"san-{san}"
    logs.mkdir(mode=0o777)
    os.chmod(logs, 0o777)
    log = ""
    if built:
        _, log, _ = suite.run_tests(kit, workdir, box, built, name=san,
                                    select=check.select, memory=False,
                                    san_logs=logs)
    findings = _san_findings(logs)
    items = []
    for p, _ in entries:
        pid = f"{track}/{p}"
        pts = check.points * rubric.weight(pid)
        title = f"{label}: no finding"
        if p not in sbuilds:
            # Not rebuilt because the main build failed: the check still
            # counts, at zero, so every student is graded out of the same
            # maximum.
            items.append(Item(pid, name, title, 0.0, pts, check.visibility,
                              "does not build."))
            continue
        if not sbuilds[p].ok:
            items.append(Item(pid, name, title, 0.0, pts, check.visibility,
                              f"the {label} build failed:\n" +
                              tail(sbuilds[p].output, 40)))
            continue
        mine = {k: v for k, v in findings.items() if f"[{pid}" in k
                or f"-{pid}" in k}
        if not mine:
            items.append(Item(pid, name, title, pts, pts, check.visibility,
                              f"no {label} report while the tests ran."))
            continue
        nodeid, text = next(iter(mine.items()))
        items.append(Item(
            pid, name, title, 0.0, pts, check.visibility,
            f"{label} reported a problem in {len(mine)} test(s); the first, "
            f"in {nodeid.split('::')[-1]}:\n" + shorten(text, 40)))
    return items, log


def _model_run(kit, workdir, box, rubric, track, entries, builds):
    """tests/tracks/test_models.py on the main build's wrappers."""
    check = rubric.checks["model"]
    test_file = kit / "tests" / "tracks" / "test_models.py"
    if not test_file.exists():
        return [], "no tests/tracks/test_models.py in the kit"
    func = ("test_threads_track_never_multiplexes"
            if track == "blocking-threads"
            else "test_event_loop_tracks_create_no_thread")
    built = [(track, p, c, builds[p].path) for p, c in entries
             if builds[p].ok]
    nodeids = [f"{test_file}::{func}[{track}/{p}]" for _, p, _, _ in built]
    log = ""
    records = []
    if built:
        records, log, _ = suite.run_tests(kit, workdir, box, built,
                                          name="model", files=nodeids)
    items = []
    for p, _ in entries:
        pid = f"{track}/{p}"
        pts = check.points * rubric.weight(pid)
        title = "concurrent in the track's own way"
        rec = next((r for r in records
                    if r["nodeid"].endswith(f"[{pid}]")), None)
        if not builds[p].ok:
            items.append(Item(pid, "model", title, 0.0, pts,
                              check.visibility, "does not build."))
        elif rec is None:
            items.append(Item(pid, "model", title, 0.0, pts,
                              check.visibility,
                              "the check did not run:\n" + tail(log, 20)))
        elif rec["outcome"] == "passed":
            items.append(Item(pid, "model", title, pts, pts,
                              check.visibility, "checked with strace."))
        else:
            items.append(Item(pid, "model", title, 0.0, pts,
                              check.visibility,
                              shorten(rec.get("message", ""), 20)))
    return items, log


__all__ = ["Outcome", "grade_exe", "grade_track", "listed", "show_item"]
