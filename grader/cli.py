"""The grader's command line (grader/grade runs it). See grader/README.md.

  grade --track TRACK [--program P] SUBMISSION     one student's track
  grade --exe PATH --program P [--name NAME]       any executable, P's contract
  grade --exe DIR --run ENTRY --program P          a program that is a folder
  grade --batch DIR --track TRACK [--jobs N]       a class: one entry a student
  common: --out DIR, --rubric FILE, --no-checks, --keep, -k EXPR

Run as a module, `python3 -m grader.cli`, with the kit's top folder on
Python's path (grader/grade sets PYTHONPATH): the grader reads tracks.list
through the kit's one reader, harness.tracks.
"""

import argparse
import concurrent.futures
import csv
import os
import sys
import threading
import time
from pathlib import Path

from grader.gradelib import reports, rubric as rubric_mod, stop
from grader.gradelib.grading import Outcome, grade_exe, grade_track, listed
from harness import tracks as tracks_mod


def parse(argv):
    p = argparse.ArgumentParser(
        prog="grade", description="Grade submissions against the kit's "
        "conformance tests, with the points of a rubric.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("submission", nargs="?",
                      help="a folder, .zip or .tar.gz with a student's "
                           "version of the track (needs --track)")
    mode.add_argument("--exe", help="grade this executable, or this "
                      "folder with --run (needs --program)")
    mode.add_argument("--batch", metavar="DIR",
                      help="grade every entry of DIR (one student each)")
    p.add_argument("--track", help="the track the submission is for")
    p.add_argument("--program", help="only this program (with --exe: "
                   "the program or contract to grade against)")
    p.add_argument("--name", help="with --exe: the program name its "
                   "messages start with (default: --program)")
    p.add_argument("--run", metavar="ENTRY", help="with --exe DIR: the "
                   "file inside DIR to run (e.g. ./prog or bin/start.sh)")
    p.add_argument("--out", help="where the reports go (default: "
                   "./grades)")
    p.add_argument("--rubric", help="the rubric (default: "
                   "grader/rubric.toml)")
    p.add_argument("--jobs", type=int, default=1,
                   help="with --batch: submissions graded at once")
    p.add_argument("--no-checks", action="store_true",
                   help="skip the sanitizer, model and warning checks")
    p.add_argument("-k", dest="select", default="",
                   help="only the tests matching this pytest -k "
                        "expression (for trying things out)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary work folders")
    args = p.parse_args(argv)
    if args.exe:
        if not args.program:
            p.error("--exe needs --program (the program or contract)")
        if os.path.isdir(args.exe) and not args.run:
            p.error(f"--exe {args.exe} is a folder: --run names the file "
                    f"inside it to run")
        if args.run and not os.path.isdir(args.exe):
            p.error("--run is for --exe DIR, a program that is a folder")
    elif args.run:
        p.error("--run is for --exe DIR")
    elif not args.track:
        p.error("a submission or --batch needs --track")
    tracks = tracks_mod.track_names()
    if args.track and args.track not in tracks:
        p.error(f"no track {args.track!r} in tracks.list (tracks: "
                f"{', '.join(sorted(tracks))})")
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    return args


def summary(outcome, out_folder):
    lines = [f"{outcome.student}: {outcome.score:g} / "
             f"{outcome.max_score:g} points  ({outcome.seconds:.0f} s)"]
    for note in outcome.notes:
        lines.append(f"  note: {note.splitlines()[0]}")
    for program, (s, m) in outcome.program_scores().items():
        lines.append(f"  {program:40s} {s:6g} / {m:g}")
    lost = [it for it in outcome.items if it.status != "passed"]
    if lost:
        lines.append("  points lost:")
    for it in lost[:12]:
        body = [ln.strip() for ln in it.output.splitlines()[1:]
                if ln.strip() and not ln.startswith("- test_")]
        first = body[0] if body else it.output.strip()
        lines.append(f"    -{it.max_points - it.points:g}  {it.name}")
        lines.append(f"          {first[:100]}")
    if len(lost) > 12:
        lines.append(f"    ... and {len(lost) - 12} more (see report.txt)")
    lines.append(f"  reports: {out_folder}/report.txt, results.json, "
                 f"junit.xml")
    return "\n".join(lines)


def one(args, rub):
    out = Path(args.out or "grades")
    contract = None
    if args.exe:
        contract = tracks_mod.contract_of(args.program)
        if contract is None:
            print(f"grade: no program or contract {args.program!r} in "
                  f"tracks.list", file=sys.stderr)
            return 2
    try:
        outcome = grade_one(args, rub, contract)
    except stop.Stopped as exc:
        outcome = not_graded(Path(args.exe or args.submission), str(exc))
    folder = out if args.out else out / outcome.student
    reports.write_all(outcome, folder)
    print(summary(outcome, folder))
    return stopped_status()


def grade_one(args, rub, contract):
    if args.exe:
        return grade_exe(args.exe, contract, rub,
                         name=args.name or args.program, keep=args.keep,
                         select=args.select, entry=args.run)
    return grade_track(args.submission, args.track, rub,
                       program=args.program, keep=args.keep,
                       checks=not args.no_checks, select=args.select)


def not_graded(entry, signal_name):
    """The outcome of a submission the grader was stopped before grading
    (or while grading): no item, a note that says so."""
    name = entry.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.lower().endswith(suffix):
            name = name[:-len(suffix)]
    outcome = Outcome(name, "", f"{entry}", error="not graded")
    outcome.notes.append(f"NOT GRADED: the grader was stopped ({signal_name}) "
                         f"before this submission was graded; grade it "
                         f"again")
    return outcome


def stopped_status():
    """0, or 128 + the signal's number when the grader was stopped (what a
    shell reports for a program a signal ended)."""
    name = stop.requested()
    if name is None:
        return 0
    import signal
    return 128 + int(signal.Signals[name])


def batch(args, rub):
    root = Path(args.batch)
    if not root.is_dir():
        print(f"grade: --batch needs a folder: {root}", file=sys.stderr)
        return 2
    entries = sorted(p for p in root.iterdir()
                     if not p.name.startswith("."))
    out = Path(args.out or "grades")
    out.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    done = [0]
    t0 = time.monotonic()
    print(f"grading {len(entries)} submissions of {args.track} "
          f"({args.jobs} at a time) into {out}/", flush=True)

    def work(entry):
        try:
            outcome = grade_track(entry, args.track, rub,
                                  program=args.program, keep=args.keep,
                                  checks=not args.no_checks,
                                  select=args.select)
        except stop.Stopped as exc:
            return not_graded(entry, str(exc))
        reports.write_all(outcome, out / outcome.student)
        with lock:
            done[0] += 1
            flag = "  (" + outcome.notes[0].splitlines()[0][:60] + ")" \
                if outcome.error else ""
            print(f"[{done[0]}/{len(entries)}] {outcome.student:24s} "
                  f"{outcome.score:6g} / {outcome.max_score:g}   "
                  f"{outcome.seconds:4.0f} s{flag}", flush=True)
        return outcome

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(work, entries))
    write_gradebook(out / "gradebook.csv", outcomes,
                    [f"{args.track}/{p}" for p, _ in listed(args.track,
                                                            args.program)])
    total = time.monotonic() - t0
    missed = [o.student for o in outcomes if o.error == "not graded"]
    print(f"gradebook: {out}/gradebook.csv ({len(outcomes)} students, "
          f"{total:.0f} s)")
    if missed:
        print(f"grade: stopped ({stop.requested()}): {len(missed)} "
              f"submission(s) NOT graded: {', '.join(missed)}",
              file=sys.stderr)
    return stopped_status()


def write_gradebook(path, outcomes, programs):
    """student, score, max, one column per program, notes. A submission
    the grader was stopped before grading has the word "not graded" in
    place of its score."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max"] + programs + ["notes"])
        for o in outcomes:
            if o.error == "not graded":
                w.writerow([o.student, "not graded", ""] +
                           [""] * len(programs) + [o.notes[0]])
                continue
            scores = o.program_scores()
            w.writerow([o.student, f"{o.score:g}", f"{o.max_score:g}"] +
                       [f"{scores.get(p, (0, 0))[0]:g}" for p in programs] +
                       ["; ".join(n.splitlines()[0] for n in o.notes)])


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    stop.install()
    try:
        rub = rubric_mod.load(args.rubric)
    except rubric_mod.RubricError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("grade: warning: not root, so student code runs as your own "
              "user and can reach the network (limits still apply)",
              file=sys.stderr)
    return batch(args, rub) if args.batch else one(args, rub)


if __name__ == "__main__":
    sys.exit(main())
