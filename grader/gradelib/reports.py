"""reports: one graded submission written three ways, into one folder.

    results.json   Gradescope's autograder format: top-level score and
                   execution_time, and one test per Item (score, max_score,
                   name, number, output, visibility, status)
    junit.xml      one <testcase> per Item (a lost point is a <failure>)
    report.txt     the same for a person: score, build, each group

plus build.log (the compiler's output) and pytest-*.log (the test runs).
"""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .score import totals


def _number(items, i):
    """Gradescope test numbers: '1.3' = third item of the first program."""
    programs = list(dict.fromkeys(it.program for it in items))
    it = items[i]
    p = programs.index(it.program) + 1
    k = sum(1 for j in items[:i + 1] if j.program == it.program)
    return f"{p}.{k}"


def results_json(outcome):
    score, top = totals(outcome.items)
    tests = []
    for i, it in enumerate(outcome.items):
        tests.append({
            "score": it.points, "max_score": it.max_points,
            "status": it.status, "name": it.name,
            "number": _number(outcome.items, i), "output": it.output,
            "visibility": it.visibility,
        })
    return {
        "score": score,
        "execution_time": round(outcome.seconds),
        "output": outcome.summary_text(),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"max_score": top, "track": outcome.track,
                       "notes": outcome.notes},
    }


# Gradescope's documented results.json: the keys it reads, and the values
# some of them may take. Anything else would be ignored, or refused.
GS_TOP = {"score", "execution_time", "output", "output_format",
          "test_output_format", "test_name_format", "visibility",
          "stdout_visibility", "extra_data", "tests", "leaderboard"}
GS_TEST = {"score", "max_score", "status", "name", "name_format", "number",
           "output", "output_format", "tags", "visibility", "extra_data"}
GS_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
GS_FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def gradescope_problems(data):
    """What in `data` (a parsed results.json) does not follow Gradescope's
    documented format: a list of sentences, empty when it is right."""
    out = []
    number = (int, float)
    out += [f"unknown top-level key {k!r}" for k in set(data) - GS_TOP]
    tests = data.get("tests")
    if not isinstance(tests, list):
        return out + ["'tests' is not a list"]
    if "score" not in data and not all("score" in t for t in tests):
        out.append("no top-level score, and not every test has one")
    for key in ("score", "execution_time"):
        if key in data and not isinstance(data[key], number):
            out.append(f"{key} is not a number")
    for key in ("visibility", "stdout_visibility"):
        if key in data and data[key] not in GS_VISIBILITY:
            out.append(f"{key} {data[key]!r} is not a visibility")
    for n, t in enumerate(tests, 1):
        where = f"test {n} ({t.get('name', '?')})"
        out += [f"{where}: unknown key {k!r}" for k in set(t) - GS_TEST]
        for key in ("score", "max_score"):
            if key in t and not isinstance(t[key], number):
                out.append(f"{where}: {key} is not a number")
        if "status" in t and t["status"] not in ("passed", "failed"):
            out.append(f"{where}: status {t['status']!r}")
        if t.get("visibility", "visible") not in GS_VISIBILITY:
            out.append(f"{where}: visibility {t['visibility']!r}")
        for key in ("output_format", "name_format"):
            if key in t and t[key] not in GS_FORMATS:
                out.append(f"{where}: {key} {t[key]!r}")
        for key in ("name", "output", "number"):
            if key in t and not isinstance(t[key], str):
                out.append(f"{where}: {key} is not a string")
    return out


def junit_xml(outcome):
    score, top = totals(outcome.items)
    failures = sum(1 for it in outcome.items if it.status != "passed")
    suite = ET.Element("testsuite", name=f"grade {outcome.student}",
                       tests=str(len(outcome.items)),
                       failures=str(failures), errors="0",
                       time=f"{outcome.seconds:.1f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="score", value=f"{score:g}")
    ET.SubElement(props, "property", name="max_score", value=f"{top:g}")
    for it in outcome.items:
        case = ET.SubElement(suite, "testcase", classname=it.program,
                             name=it.name)
        ET.SubElement(case, "system-out").text = (
            f"{it.points:g} / {it.max_points:g} points "
            f"({it.visibility})\n{it.output}")
        if it.status != "passed":
            fail = ET.SubElement(case, "failure", message=(
                f"{it.points:g} of {it.max_points:g} points"))
            fail.text = it.output
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def text_report(outcome):
    score, top = totals(outcome.items)
    lines = [f"Grade for {outcome.student}: {score:g} / {top:g}",
             f"({outcome.what}; graded in {outcome.seconds:.0f} s)", ""]
    if outcome.timings:
        lines.append("time: " + ", ".join(
            f"{k} {v:.0f} s" for k, v in outcome.timings.items()))
    for note in outcome.notes:
        lines.append(f"note: {note}")
    if outcome.notes:
        lines.append("")
    current = None
    for it in outcome.items:
        if it.program != current:
            current = it.program
            lines.append(f"== {current}")
        hidden = "" if it.visibility == "visible" else \
            f"   [{it.visibility}]"
        lines.append(f"  {it.points:5g} / {it.max_points:<5g} "
                     f"{it.name[len(it.program) + 1:]}{hidden}")
        if it.status != "passed":
            lines.extend("      " + line for line in it.output.splitlines())
    return "\n".join(lines) + "\n"


def write_all(outcome, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(
        json.dumps(results_json(outcome), indent=2) + "\n")
    (folder / "junit.xml").write_text(junit_xml(outcome))
    (folder / "report.txt").write_text(text_report(outcome))
    if outcome.build_log:
        (folder / "build.log").write_text(outcome.build_log)
    for name, text in outcome.logs.items():
        (folder / f"pytest-{name}.log").write_text(text)
    return folder
