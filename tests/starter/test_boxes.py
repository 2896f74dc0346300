"""The "you write this" boxes of the student edition have their text: each
lesson excerpt of solution code has an entry in lessons/hints.toml, and
each entry is such an excerpt (no hint left behind by a renamed marker).
Fast: no kit is built."""

import re
import tomllib

from harness import tracks

ROOT = tracks.ROOT
from grader.gradelib import starter

EXCERPT = re.compile(r"^<!-- excerpt: (\S+) lesson:(\S+) -->$", re.M)


def solution_excerpts():
    text = "\n".join(p.read_text() for p in (ROOT / "lessons").glob("*.md"))
    return {name for path, name in EXCERPT.findall(text)
            if starter.solution_excerpt(ROOT, path, name) is not None}


def test_every_solution_excerpt_has_its_box_text_and_no_more():
    with open(ROOT / "lessons" / "hints.toml", "rb") as f:
        hints = tomllib.load(f)
    wanted = solution_excerpts()
    assert wanted, "no lesson excerpt lies in a solution region?"
    assert set(hints) == wanted, (
        f"excerpts without box text: {sorted(wanted - set(hints))}; "
        f"box text for no excerpt: {sorted(set(hints) - wanted)}")
    for name, entry in hints.items():
        assert set(entry) == {"does", "spec", "hint"}, name
        assert re.fullmatch(r"(?:[A-Z]+-\d+)(?:, [A-Z]+-\d+)*",
                            entry["spec"]), (name, entry["spec"])


def test_the_box_text_quotes_no_solution_line():
    secret = starter.secret_lines(ROOT)
    with open(ROOT / "lessons" / "hints.toml", "rb") as f:
        for name, entry in tomllib.load(f).items():
            for text in entry.values():
                assert text.strip() not in secret, name
