"""Every lesson ends with concept questions; their answers are in the
instructor edition (the repository) and nowhere in the student kit that
`make starter` writes (grader/gradelib/starter.py, strip_answers)."""

import re
import subprocess
import sys

import pytest

from grader.gradelib import starter
from harness import tracks

ROOT = tracks.ROOT
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]*.md"))
QUESTION = re.compile(r"^\d+\. ", re.M)
MIN_QUESTIONS = 3


def quiz(text):
    """The lesson's "Check yourself" section, up to the next ## heading."""
    m = re.search(r"^## Check yourself\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1) if m else None


@pytest.mark.parametrize("md", LESSONS, ids=[p.name for p in LESSONS])
def test_every_lesson_has_questions_each_with_an_answer(md):
    section = quiz(md.read_text())
    assert section is not None, f"{md.name} has no '## Check yourself'"
    questions = QUESTION.findall(section)
    answers = section.count("<!-- answer -->")
    assert len(questions) >= MIN_QUESTIONS, (
        f"{md.name}: {len(questions)} questions, at least {MIN_QUESTIONS} "
        f"expected")
    assert answers == len(questions), (
        f"{md.name}: {len(questions)} questions but {answers} answers")


@pytest.mark.parametrize("md", LESSONS, ids=[p.name for p in LESSONS])
def test_the_student_edition_keeps_the_questions_and_loses_the_answers(md):
    text = md.read_text()
    out, n = starter.strip_answers(text, md.name)
    assert n == text.count("<!-- answer -->") and n > 0
    assert "<!-- answer -->" not in out and "<details>" not in out
    assert QUESTION.findall(quiz(out)) == QUESTION.findall(quiz(text))
    # Everything outside the answers is kept, code excerpts included.
    assert out.count("<!-- excerpt:") == text.count("<!-- excerpt:")


def test_unbalanced_answer_markers_are_refused():
    with pytest.raises(starter.MarkerError, match="never closed"):
        starter.strip_answers("1. Q?\n<!-- answer -->\nA\n", "l.md")
    with pytest.raises(starter.MarkerError, match="without"):
        starter.strip_answers("A\n<!-- end answer -->\n", "l.md")


def test_make_starter_takes_the_answers_out_of_the_lessons(tmp_path):
    dest = tmp_path / "starter"
    run = subprocess.run([sys.executable, str(ROOT / "grader" / "make-starter"),
                          str(dest)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "answers taken out" in run.stdout
    for md in (dest / "lessons").glob("*.md"):
        assert "<!-- answer -->" not in md.read_text(), md.name
    # The lessons still read: the questions are there.
    some = dest / "lessons" / LESSONS[0].name
    assert "## Check yourself" in some.read_text()
