"""The lessons' code excerpts are the code in the sources
(lessons/excerpts.py), and the check can fail."""

import shutil
import subprocess
import sys

from harness import tracks

ROOT = tracks.ROOT
TOOL = ROOT / "lessons" / "excerpts.py"


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=ROOT)


def test_every_excerpt_matches_its_source():
    result = run("--check")
    assert result.returncode == 0, result.stderr
    assert "all" in result.stdout


def _copy(tmp_path):
    """A copy of the lessons and of the sources they quote, to break."""
    lessons = tmp_path / "lessons"
    shutil.copytree(ROOT / "lessons", lessons,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    root = tmp_path / "root"
    for track in ("blocking-threads", "manual-statemachine", "async-futures",
                  "lessons/examples"):
        shutil.copytree(ROOT / track, root / track)
    return lessons, root


def _lesson_with_excerpt(lessons):
    for md in sorted(lessons.glob("*.md")):
        if "<!-- excerpt:" in md.read_text():
            return md
    raise AssertionError("no lesson has an excerpt")


def test_a_drifted_copy_is_reported_and_update_repairs_it(tmp_path):
    lessons, root = _copy(tmp_path)
    md = _lesson_with_excerpt(lessons)
    text = md.read_text()
    start = text.index("```c\n", text.index("<!-- excerpt:")) + 5
    md.write_text(text[:start] + "/* a line the source does not have */\n"
                  + text[start:])
    result = run("--check", "--lessons", lessons, "--root", root)
    assert result.returncode == 1
    assert f"{md.name}:" in result.stderr and "drifted" in result.stderr
    fixed = run("--update", "--lessons", lessons, "--root", root)
    assert fixed.returncode == 0 and md.name in fixed.stdout
    assert md.read_text() == text
    assert run("--check", "--lessons", lessons, "--root", root).returncode == 0


def test_a_missing_marker_is_reported(tmp_path):
    lessons, root = _copy(tmp_path)
    md = _lesson_with_excerpt(lessons)
    line = next(x for x in md.read_text().splitlines()
                if x.startswith("<!-- excerpt:"))
    path, name = line.split()[2], line.split()[3]
    source = root / path
    source.write_text(source.read_text().replace(f"/* {name} */",
                                                 "/* gone */"))
    result = run("--check", "--lessons", lessons, "--root", root)
    assert result.returncode == 1
    assert "missing" in result.stderr and name in result.stderr


def test_a_missing_end_or_block_is_reported(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    root = tmp_path / "root"
    (root / "t").mkdir(parents=True)
    (root / "t" / "a.c").write_text("/* lesson:x */\nint a;\n")
    (root / "t" / "b.c").write_text("/* lesson:y */\nint b;\n/* end */\n")
    (lessons / "01.md").write_text(
        "<!-- excerpt: t/a.c lesson:x -->\n```c\nint a;\n```\n\n"
        "<!-- excerpt: t/b.c lesson:y -->\nno block here\n")
    result = run("--check", "--lessons", lessons, "--root", root)
    assert result.returncode == 1
    assert "has no /* end */" in result.stderr
    assert "no ```c block" in result.stderr
